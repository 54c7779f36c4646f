import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runEntry, startEnv, waitForStatus } from './support/npmStart';
import { freePort } from './support/ports';
import { descendants } from '../bench/stack';


function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (polling, with a deadline) until none of `pids` runs any more; returns those still running. */
async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(isAlive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm start', () => {
  it('starts every embedded server, serves /readyz 200 with the Web UI and inbox up, and stops in order within 5 s on Ctrl-C, leaving nothing running', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-start-'));
    fs.chmodSync(dataDir, 0o755);
    const { ports, env } = await startEnv(dataDir);
    const run = runEntry('src/main.ts', env, (out) => out.includes('Press Ctrl-C'), 120_000);
    let servers: number[] = [];
    let signalled = 0;
    try {
      await run.reached!;
      await waitForStatus(`http://localhost:${ports.port}/readyz`, 200);
      expect(await fetch(`http://localhost:${ports.port}/healthz`).then((r) => r.json())).toEqual({ status: 'ok' });
      await waitForStatus(`http://localhost:${ports.ui}/`, 200);
      await waitForStatus(`http://localhost:${ports.inbox}/email`, 200);
      // One metrics page for the whole process: the API's series and the SDK runtime's beside them.
      const metrics = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`).then((r) => r.text());
      expect(metrics).toContain('flowgate_http_requests_total{method="GET",route="/readyz",status="200"}');
      expect(metrics).toContain('temporal_num_pollers');
      // The development secret is generated once and kept for the next start.
      expect(fs.readFileSync(path.join(dataDir, 'token-secret'), 'utf8').trim().length).toBeGreaterThanOrEqual(32);
      servers = descendants(run.child.pid!).map((p) => p.pid).filter((p) => p !== run.child.pid);
      expect(servers.length).toBeGreaterThanOrEqual(3); // PostgreSQL, the Temporal dev server, the mail inbox (and the watchdog)
    } finally {
      // Ctrl-C in a terminal: SIGINT to the whole foreground process group.
      signalled = Date.now();
      process.kill(-run.child.pid!, 'SIGINT');
    }
    const result = await run.exited;
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(result.code).toBe(0);
    expect(result.output).toContain(`http://localhost:${ports.ui}`);
    expect(result.output).toContain(`http://localhost:${ports.inbox}`);
    expect(result.output).toContain(`Metrics:          http://127.0.0.1:${ports.metrics}/metrics`);
    // It says what it does while it stops, in order: the API and the worker before the servers they use.
    const order = ['stopping the API', 'stopping the worker', 'stopping the mail inbox', 'stopping the Temporal dev server', 'stopping PostgreSQL', 'flowgate stopped'];
    const at = order.map((line) => result.output.indexOf(line));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(await waitGone(servers, 3000)).toEqual([]);
    for (const p of [ports.port, ports.pg, ports.temporal, ports.smtp, ports.metrics]) expect(await isListening(p)).toBe(false);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 180_000);

  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  asRoot('runs as root with its data in a private directory, and leaves nothing running when it is killed', async () => {
    // A clone inside root's home: mode 700, out of reach of the postgres user PostgreSQL runs as.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-private-'));
    fs.chmodSync(home, 0o700);
    const dataDir = path.join(home, 'flowgate', '.data');
    const { ports, env } = await startEnv(dataDir);
    const run = runEntry('src/main.ts', env, (out) => out.includes('Press Ctrl-C'), 120_000);
    try {
      await run.reached!;
      await waitForStatus(`http://localhost:${ports.port}/readyz`, 200);
      // The cluster lives where the postgres user can reach it; the data directory links to it.
      expect(fs.lstatSync(path.join(dataDir, 'postgres')).isSymbolicLink()).toBe(true);
      expect(fs.existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    } catch (err) {
      process.kill(-run.child.pid!, 'SIGKILL');
      throw err;
    }
    const servers = descendants(run.child.pid!).map((p) => p.pid).filter((p) => p !== run.child.pid);
    run.child.kill('SIGKILL');
    expect((await run.exited).output).not.toMatch(/EACCES|at .*\(/);
    // The watchdog ends every server the killed process had started.
    expect(await waitGone(servers, 15_000)).toEqual([]);
    for (const p of [ports.pg, ports.temporal, ports.smtp]) expect(await isListening(p)).toBe(false);
    const shared = fs.realpathSync(path.join(dataDir, 'postgres'));
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(shared, { recursive: true, force: true });
  }, 180_000);
});

function isListening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('bad configuration', () => {
  const external = () => ({
    DATABASE_URL: process.env.DATABASE_URL,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
    SMTP_URL: process.env.SMTP_URL,
  });

  async function expectOneLineError(env: Record<string, string | undefined>, variable: string, entry = 'src/main.ts') {
    const run = runEntry(entry, { ...external(), PORT: String(await freePort()), ...env });
    const result = await run.exited;
    expect(result.code).not.toBe(0);
    expect(result.ms).toBeLessThan(20_000);
    const lines = result.output.split('\n').filter((l) => l.trim() && !l.includes('npm warn'));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^flowgate: ${variable}: `))]);
    return lines[0];
  }

  it('names an unreachable TEMPORAL_ADDRESS', async () => {
    await expectOneLineError({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }, 'TEMPORAL_ADDRESS');
  });

  it('names a DATABASE_URL that does not connect, without printing its password', async () => {
    const line = await expectOneLineError({ DATABASE_URL: `postgresql://u:supersecret@127.0.0.1:${await freePort()}/db` }, 'DATABASE_URL');
    expect(line).not.toContain('supersecret');
  });

  it('names a DATABASE_URL that is not a URL', async () => {
    await expectOneLineError({ DATABASE_URL: 'not a url' }, 'DATABASE_URL');
  });

  it('names a PORT that is in use', async () => {
    const server = net.createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, () => resolve((server.address() as net.AddressInfo).port)));
    try {
      await expectOneLineError({ PORT: String(port) }, 'PORT', 'src/api/server.ts');
    } finally {
      server.close();
    }
  });

  it('requires TOKEN_SECRET in production', async () => {
    await expectOneLineError({ NODE_ENV: 'production', TOKEN_SECRET: undefined }, 'TOKEN_SECRET');
  });

  it('names a malformed duration', async () => {
    await expectOneLineError({ TRIAL_LENGTH: 'fortnight' }, 'TRIAL_LENGTH', 'src/worker.ts');
  });
});
