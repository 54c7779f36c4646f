// `npm start` as a test runs it: src/main.ts in its own process group, on
// free ports and a data directory of its own, its output collected.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from './ports';

const ROOT = path.resolve(__dirname, '../..');

export interface Run {
  code: number | null;
  output: string;
  ms: number;
}

/** Runs one of the service's entry points as `npm start` would and collects what it prints. */
export function runEntry(entry: string, env: Record<string, string | undefined>, until?: (output: string) => boolean, timeoutMs = 60_000) {
  const started = Date.now();
  // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...env } as NodeJS.ProcessEnv, detached: true });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<Run>((resolve) => child.on('exit', (code) => resolve({ code, output, ms: Date.now() - started })));
  const reached = until && new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (until(output)) (clearInterval(timer), resolve());
      else if (child.exitCode !== null) (clearInterval(timer), reject(new Error(`exited early:\n${output}`)));
      else if (Date.now() - started > timeoutMs) (clearInterval(timer), reject(new Error(`timed out:\n${output}`)));
    }, 100);
  });
  return { child, exited, reached };
}

export async function waitForStatus(url: string, status: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await fetch(url).then((r) => r.status, () => 0);
    if (got === status) return;
    if (Date.now() > deadline) throw new Error(`${url} answered ${got}, expected ${status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}


/** Ports and environment for one embedded stack: every server started by src/main.ts itself. */
export async function startEnv(dataDir: string) {
  const [port, pg, temporal, ui, smtp, inbox, metrics] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  return {
    ports: { port, pg, temporal, ui, smtp, inbox, metrics },
    env: {
      DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(pg), TEMPORAL_PORT: String(temporal),
      TEMPORAL_UI_PORT: String(ui), MAIL_SMTP_PORT: String(smtp), MAIL_UI_PORT: String(inbox), METRICS_ADDRESS: String(metrics),
      DATABASE_URL: undefined, TEMPORAL_ADDRESS: undefined, SMTP_URL: undefined, TOKEN_SECRET: undefined, PUBLIC_URL: undefined,
      ADMIN_TOKEN: undefined, PAYLOAD_KEYS: undefined, PAYLOAD_KEY_ID: undefined,
    },
  };
}

