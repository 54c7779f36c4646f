// npm run chaos [-- --flows 1000 --concurrency 12 --seed 42 --kill-every 8-20 --cluster]
//
// Runs flows of mixed kinds against the worker, the API, the Temporal server
// and PostgreSQL as separate processes, while SIGKILLing one of them at
// random moments and restarting it (as a process supervisor would), and
// takes the mail server away for a minute (connections refused, then 451
// "try again later" answers). Without --cluster: one worker, one API and the
// Temporal CLI's dev server; with --cluster: the production topology of
// test:cluster (real Temporal server on PostgreSQL with mutual TLS, two
// workers, two APIs from the build, requests spread over both). Then checks:
// every flow completed or expired as designed; nothing was created twice;
// mails sent more than once for one logical email (with the reason); HTTP
// 5xx answers outside the moments a process was down.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedPostgres, EmbeddedPostgresHandle } from '../src/dev/postgres';
import { startTemporalDevServer, TemporalDevHandle } from '../src/dev/temporal';
import { waitForPort } from '../src/dev/process';
import { connectTemporal, migrateDatabase } from '../src/deps';
import { parsePayloadKeys, payloadDataConverter } from '../src/shared/codec';
import { loadTemporalSettings } from '../src/temporalEnv';
import { Cluster, DownWindow } from '../test/cluster/stack';
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
    cluster: { type: 'boolean', default: false },
    // When the mail server goes away, as a share of the flows driven; 0 for never.
    'mail-outage-at': { type: 'string', default: '0.3' },
    'mail-outage-seconds': { type: 'string', default: '60' },
  },
});

/** A small seeded PRNG, so a run's kill schedule can be repeated. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}
const random = prng(Number(args.seed));

const VICTIMS = ['worker', 'api', 'temporal', 'postgres'] as const;
type Victim = (typeof VICTIMS)[number];

/** What the run needs of a topology: kill and restart a process, and say when something was down. */
interface Topology {
  readonly windows: DownWindow[];
  kill(victim: Victim): Promise<void>;
  wasDown(at: number, sentAt?: number): boolean;
  stop(): Promise<unknown>;
}

/** The development topology: one worker and one API (from the sources), the Temporal CLI's dev server, embedded PostgreSQL. */
class Supervisor implements Topology {
  readonly windows: DownWindow[] = [];
  private procs = new Map<Victim, ChildProcess | TemporalDevHandle | EmbeddedPostgresHandle>();
  private stopped = false;

  constructor(
    private readonly env: Record<string, string>,
    private readonly apiPort: number,
    private readonly temporalOptions: Parameters<typeof startTemporalDevServer>[0],
    private readonly postgres: { dir: string; port: number },
    private readonly logDir: string,
  ) {}

  async startAll(): Promise<void> {
    await this.start('postgres');
    await migrateDatabase(this.env.DATABASE_URL);
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
    } else if (victim === 'postgres') {
      this.procs.set(victim, await startEmbeddedPostgres(this.postgres.dir, this.postgres.port, { logFile: path.join(this.logDir, 'postgres.log') }));
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

  /** Whether a request sent at `sentAt` and answered at `at` overlapped a time something was down (or just back). */
  wasDown(at: number, sentAt = at, graceMs = 2000): boolean {
    return this.windows.some((w) => at >= w.from - 50 && sentAt <= (w.to ?? Infinity) + graceMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The app first, then the servers it uses.
    for (const victim of ['api', 'worker', 'temporal', 'postgres'] as const) {
      const proc = this.procs.get(victim);
      if (!proc) continue;
      if (victim === 'temporal' || victim === 'postgres') await (proc as TemporalDevHandle | EmbeddedPostgresHandle).stop();
      else {
        const child = proc as ChildProcess;
        if (child.exitCode === null && child.signalCode === null) {
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
  const smtpPort = await freePort();
  const sink = new SmtpSink();
  await sink.listen(smtpPort);
  const smtpUrl = `smtp://127.0.0.1:${smtpPort}`;
  // Expiries short enough for abandoned flows to expire within the run, long enough to outlast the mail outage and its retries.
  const ttl = Number(args['mail-outage-at']) > 0 ? `${Number(args['mail-outage-seconds']) + 120}s` : '45s';
  const expiries = { TRIAL_VERIFICATION_TTL: ttl, EMAIL_VALIDATION_TTL: ttl, BILLING_CONFIRMATION_TTL: ttl };
  let topology: Topology;
  let env: Record<string, string>;
  let temporal: Client;
  let route: ((url: string) => string) | undefined;
  if (args.cluster) {
    const cluster = new Cluster({ dataDir, smtpUrl, appEnv: expiries, logDir });
    await cluster.start();
    topology = cluster;
    env = cluster.appEnv;
    route = cluster.route;
    temporal = await connectTemporal(loadTemporalSettings({ ...env, TEMPORAL_CONFIG_FILE: path.join(dataDir, 'no-temporal.toml') }).target!, 'default', codecOf(env));
  } else {
    const [pgPort, temporalPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    env = {
      DATABASE_URL: `postgresql://flowgate:flowgate@127.0.0.1:${pgPort}/flowgate`,
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      SMTP_URL: smtpUrl,
      PORT: String(apiPort),
      PUBLIC_URL: `http://localhost:${apiPort}`,
      TOKEN_SECRET: 'chaos-secret-0123456789abcdef0123456789abcdef',
      ADMIN_TOKEN: 'chaos-admin-token-0123456789abcdef',
      TRIAL_SERVICE_TOKEN: 'chaos-trial-service-0123456789abcdef',
      PAYLOAD_KEYS: `chaos-1:${Buffer.alloc(32, 12).toString('base64')}`,
      LOG_LEVEL: 'warn',
      // Each billing flow comes from its own X-Forwarded-For address: the per-IP mail limit is not under test here.
      TRUST_PROXY: '1',
      ...expiries,
    };
    const supervisor = new Supervisor(env, apiPort, { dataDir, port: temporalPort, uiPort: 0, namespace: 'default', ui: false }, { dir: path.join(dataDir, 'postgres'), port: pgPort }, logDir);
    await supervisor.startAll();
    topology = supervisor;
    temporal = new Client({ connection: await Connection.connect({ address: env.TEMPORAL_ADDRESS }), dataConverter: codecOf(env) });
  }
  const db = createDb(env.DATABASE_URL);

  const http5xx: { at: number; sentAt: number; url: string; status: number }[] = [];
  const ctx: FlowContext = { baseUrl: env.PUBLIC_URL, adminToken: env.ADMIN_TOKEN, serviceToken: env.TRIAL_SERVICE_TOKEN, sink, db, random, route, on5xx: (url, status, sentAt) => http5xx.push({ at: Date.now(), sentAt, url, status }) };

  // The mail server goes away once, for --mail-outage-seconds: refused connections for the first half, then 451 answers.
  const outageAt = Math.round(Number(args['mail-outage-at']) * flows);
  const outageMs = Number(args['mail-outage-seconds']) * 1000;
  let mailOutage: { from: number; to?: number } | undefined;
  let outageDone: Promise<void> = Promise.resolve();
  const startOutage = () => {
    mailOutage = { from: Date.now() };
    process.stderr.write(`\n  mail server: refusing connections, then answering 451, for ${outageMs / 1000}s\n`);
    outageDone = (async () => {
      await sink.outage('refuse');
      await new Promise((r) => setTimeout(r, outageMs / 2));
      await sink.outage('tempfail');
      await new Promise((r) => setTimeout(r, outageMs / 2));
      await sink.outage('up');
      mailOutage!.to = Date.now();
    })();
  };

  // The killer: one victim every few seconds (--kill-every MIN-MAX) until the flows are done.
  const [minGap, maxGap] = args['kill-every']!.split('-').map((n) => Number(n) * 1000);
  let running = true;
  const kills: { victim: Victim; at: number }[] = [];
  const killer = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, minGap + random() * (maxGap - minGap)));
      if (!running) break;
      const victim = VICTIMS[Math.floor(random() * VICTIMS.length)];
      kills.push({ victim, at: Date.now() });
      process.stderr.write(`\n  SIGKILL ${victim}\n`);
      await topology.kill(victim);
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
    }, (d) => {
      process.stderr.write(`\rflows driven: ${d}/${flows}   `);
      if (outageAt > 0 && d >= outageAt && !mailOutage) startOutage();
    });
  } finally {
    running = false;
    await killer;
    await outageDone;
  }
  process.stderr.write('\nwaiting for every flow to settle (expiries included)...\n');
  const checks = await settle(outcomes, temporal, db, (n) => process.stderr.write(`\r  ${n} flows not settled yet   `));
  const duplicatesCreated = await countDuplicates(db);

  const { byId, repeatedMails: repeated } = repeatedMails(sink.messages, [...topology.windows, ...(mailOutage ? [{ victim: 'mail', ...mailOutage }] : [])]);
  // A 503 "could not send the mail just now" is the designed answer while the mail server is away (and a person's update waits up to ~15 s).
  const duringMailOutage = (at: number) => !!mailOutage && at >= mailOutage.from && at <= (mailOutage.to ?? Infinity) + 30_000;
  const unexpected5xx = http5xx.filter((e) => !topology.wasDown(e.at, e.sentAt) && !duringMailOutage(e.at));
  const results = {
    date: new Date().toISOString(),
    seed: Number(args.seed),
    flows,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    topology: args.cluster ? 'cluster: Temporal server on PostgreSQL, mutual TLS, 2 workers, 2 APIs' : 'dev: Temporal dev server, 1 worker, 1 API',
    mailOutage: mailOutage ? { seconds: Math.round(((mailOutage.to ?? Date.now()) - mailOutage.from) / 1000), refusedThen451: true, mailsAnswered451: sink.tempFailures } : undefined,
    kills: kills.reduce<Record<string, number>>((acc, k) => ((acc[k.victim] = (acc[k.victim] ?? 0) + 1), acc), {}),
    flowsAsDesigned: checks.filter((c) => c.ok).length,
    flowsNotAsDesigned: checks.filter((c) => !c.ok).map((c) => c.detail).slice(0, 20),
    byKind: Object.fromEntries(DRIVERS.map((d) => [d.name, checks.filter((c) => c.kind === d.name).length])),
    duplicatesCreated,
    mails: { sent: sink.messages.length, logical: byId.size, repeated: repeated.length, details: repeated.slice(0, 20) },
    http5xx: {
      total: http5xx.length,
      whileAProcessWasDown: http5xx.filter((e) => topology.wasDown(e.at, e.sentAt)).length,
      whileTheMailServerWasAway: http5xx.filter((e) => !topology.wasDown(e.at, e.sentAt) && duringMailOutage(e.at)).length,
      otherwise: unexpected5xx.length,
      unexpected: unexpected5xx.slice(0, 20),
    },
  };
  await temporal.connection.close();
  await db.$disconnect();
  await topology.stop();
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

/** The flows' results are encrypted: the checks read them with the service's keys. */
function codecOf(env: Record<string, string>) {
  const keys = parsePayloadKeys(env.PAYLOAD_KEYS, env.PAYLOAD_KEY_ID);
  if ('problem' in keys) throw new Error(`${keys.variable}: ${keys.problem}`);
  return payloadDataConverter(keys);
}
