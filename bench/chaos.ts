// npm run chaos [-- --flows 1000 --concurrency 12 --seed 42 --kill-every 8-20]
//
// Runs flows of mixed kinds against the worker, the API and the Temporal
// server as separate processes, while SIGKILLing one of them at random
// moments and restarting it (as a process supervisor would). Then checks:
// every flow completed or expired as designed; nothing was created twice;
// mails sent more than once for one logical email (with the reason); HTTP
// 5xx answers outside the moments a process was down.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedPostgres } from '../src/dev/postgres';
import { startTemporalDevServer, TemporalDevHandle } from '../src/dev/temporal';
import { waitForPort } from '../src/dev/process';
import { migrateDatabase } from '../src/deps';
import { createDb, Db } from '../src/shared/db';
import { SmtpSink } from './smtpSink';
import { freePort, pool, ROOT } from './stack';
import { countDuplicates, DRIVERS, FlowContext, FlowOutcome, repeatedMails, settle } from './chaosFlows';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '12' },
    seed: { type: 'string', default: String(Date.now() % 100000) },
    'kill-every': { type: 'string', default: '8-20' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results', 'chaos.json') },
    // The processes' logs, kept after the run to look into any flow that did not end as designed.
    logs: { type: 'string', default: path.join(ROOT, '.data', 'chaos-logs') },
  },
});

/** A small seeded PRNG, so a run's kill schedule can be repeated. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}
const random = prng(Number(args.seed));

type Victim = 'worker' | 'api' | 'temporal';
interface DownWindow {
  victim: Victim;
  from: number;
  to?: number;
}

class Supervisor {
  readonly windows: DownWindow[] = [];
  private procs = new Map<Victim, ChildProcess | TemporalDevHandle>();
  private stopped = false;

  constructor(
    private readonly env: Record<string, string>,
    private readonly apiPort: number,
    private readonly temporalOptions: Parameters<typeof startTemporalDevServer>[0],
    private readonly logDir: string,
  ) {}

  async startAll(): Promise<void> {
    await this.start('temporal');
    await this.start('worker');
    await this.start('api');
  }

  private spawnNode(victim: 'worker' | 'api'): ChildProcess {
    const entry = victim === 'worker' ? 'src/worker.ts' : 'src/api/server.ts';
    const log = fs.openSync(path.join(this.logDir, `${victim}.log`), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    // A supervisor restarts a process that died on its own (e.g. Temporal was down at its start).
    child.once('exit', () => {
      if (!this.stopped && this.procs.get(victim) === child) setTimeout(() => void this.start(victim), 500);
    });
    return child;
  }

  async start(victim: Victim): Promise<void> {
    if (this.stopped) return;
    if (victim === 'temporal') {
      this.procs.set(victim, await startTemporalDevServer(this.temporalOptions));
    } else {
      const child = this.spawnNode(victim);
      this.procs.set(victim, child);
      if (victim === 'api') await waitForPort(this.apiPort, '127.0.0.1', 60_000).catch(() => undefined);
    }
    const open = this.windows.find((w) => w.victim === victim && w.to === undefined);
    if (open) open.to = Date.now() + (victim === 'worker' ? 3000 : 1000); // a worker needs a moment to poll again
  }

  async kill(victim: Victim): Promise<void> {
    const proc = this.procs.get(victim);
    const pid = proc && ('pid' in proc ? proc.pid : undefined);
    if (!pid) return;
    this.windows.push({ victim, from: Date.now() });
    this.procs.delete(victim);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 300 + random() * 1500));
    await this.start(victim);
  }

  wasDown(at: number, graceMs = 2000): boolean {
    return this.windows.some((w) => at >= w.from - 50 && at <= (w.to ?? Infinity) + graceMs);
  }

  async stopAll(): Promise<void> {
    this.stopped = true;
    for (const [victim, proc] of this.procs) {
      if (victim === 'temporal') await (proc as TemporalDevHandle).stop();
      else {
        const child = proc as ChildProcess;
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        }
      }
    }
  }
}

async function main(): Promise<void> {
  const flows = Number(args.flows);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-chaos-'));
  fs.chmodSync(dataDir, 0o755);
  const logDir = path.join(args.logs!, `seed-${args.seed}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(logDir, { recursive: true });
  const [pgPort, temporalPort, apiPort, smtpPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const sink = new SmtpSink();
  await sink.listen(smtpPort);
  const pg = await startEmbeddedPostgres(path.join(dataDir, 'postgres'), pgPort);
  await migrateDatabase(pg.url);
  const env: Record<string, string> = {
    DATABASE_URL: pg.url,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    PORT: String(apiPort),
    PUBLIC_URL: `http://localhost:${apiPort}`,
    TOKEN_SECRET: 'chaos-secret-0123456789abcdef0123456789abcdef',
    ADMIN_TOKEN: 'chaos-admin-token-0123456789abcdef',
    LOG_LEVEL: 'warn',
    // Each billing flow comes from its own X-Forwarded-For address: the per-IP mail limit is not under test here.
    TRUST_PROXY: '1',
    // Short expiries, so abandoned flows expire within the run.
    TRIAL_VERIFICATION_TTL: '45s',
    EMAIL_VALIDATION_TTL: '45s',
    BILLING_CONFIRMATION_TTL: '45s',
  };
  const supervisor = new Supervisor(env, apiPort, { dataDir, port: temporalPort, uiPort: 0, namespace: 'default', ui: false }, logDir);
  await supervisor.startAll();
  const db = createDb(pg.url);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection });

  const http5xx: { at: number; url: string; status: number }[] = [];
  const ctx: FlowContext = { baseUrl: env.PUBLIC_URL, adminToken: env.ADMIN_TOKEN, sink, db, random, on5xx: (url, status) => http5xx.push({ at: Date.now(), url, status }) };

  // The killer: one victim every few seconds (--kill-every MIN-MAX) until the flows are done.
  const [minGap, maxGap] = args['kill-every']!.split('-').map((n) => Number(n) * 1000);
  let running = true;
  const kills: { victim: Victim; at: number }[] = [];
  const killer = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, minGap + random() * (maxGap - minGap)));
      if (!running) break;
      const victim = (['worker', 'api', 'temporal'] as const)[Math.floor(random() * 3)];
      kills.push({ victim, at: Date.now() });
      process.stderr.write(`\n  SIGKILL ${victim}\n`);
      await supervisor.kill(victim);
    }
  })();

  const outcomes: FlowOutcome[] = [];
  const started = Date.now();
  try {
    await pool(flows, Number(args.concurrency), async (i) => {
      const driver = DRIVERS[i % DRIVERS.length];
      try {
        outcomes.push(await driver.run(ctx, `${args.seed}-${i}`));
      } catch (err) {
        // A flow the client could not drive to its end counts as not as designed, with the reason.
        const detail = `${driver.name} ${i}: ${String((err as Error)?.message ?? err).slice(0, 300)}`;
        outcomes.push({ kind: driver.name, final: true, check: async () => ({ ok: false, detail }) });
      }
    }, (d) => process.stderr.write(`\rflows driven: ${d}/${flows}   `));
  } finally {
    running = false;
    await killer;
  }
  process.stderr.write('\nwaiting for every flow to settle (expiries included)...\n');
  const checks = await settle(outcomes, temporal, db, (n) => process.stderr.write(`\r  ${n} flows not settled yet   `));
  const duplicatesCreated = await countDuplicates(db);

  const { byId, repeatedMails: repeated } = repeatedMails(sink.messages, supervisor.windows);
  const unexpected5xx = http5xx.filter((e) => !supervisor.wasDown(e.at));
  const results = {
    date: new Date().toISOString(),
    seed: Number(args.seed),
    flows,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    kills: kills.reduce<Record<string, number>>((acc, k) => ((acc[k.victim] = (acc[k.victim] ?? 0) + 1), acc), {}),
    flowsAsDesigned: checks.filter((c) => c.ok).length,
    flowsNotAsDesigned: checks.filter((c) => !c.ok).map((c) => c.detail).slice(0, 20),
    byKind: Object.fromEntries(DRIVERS.map((d) => [d.name, checks.filter((c) => c.kind === d.name).length])),
    duplicatesCreated,
    mails: { sent: sink.messages.length, logical: byId.size, repeated: repeated.length, details: repeated.slice(0, 20) },
    http5xx: { total: http5xx.length, whileAProcessWasDown: http5xx.length - unexpected5xx.length, otherwise: unexpected5xx.length, unexpected: unexpected5xx.slice(0, 20) },
  };
  await connection.close();
  await db.$disconnect();
  await supervisor.stopAll();
  await pg.stop();
  await sink.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(args.out!), { recursive: true });
  fs.writeFileSync(args.out!, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify(results, null, 2)}\nwritten to ${path.relative(ROOT, args.out!)} (logs in ${path.relative(ROOT, logDir)})\n`);
  const ok = results.flowsNotAsDesigned.length === 0 && Object.values(duplicatesCreated).every((n) => n === 0) && unexpected5xx.length === 0;
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`\nchaos failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
