// The production topology without Docker, as docker-compose.yml describes it:
// PostgreSQL; the real Temporal server on it with mutual TLS on its frontend
// (schema set up with temporal-sql-tool, namespace created with the CLI);
// the app built with `npm run build`, migrated, and run as two workers and
// two API processes with NODE_ENV=production. Every process can be
// SIGKILLed and restarted, as a process supervisor would.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres, EmbeddedPostgresHandle } from '../../src/dev/postgres';
import { isPortFree, spawnServer, waitForPort } from '../../src/dev/process';
import { resolveTemporalCli } from '../../src/dev/temporal';
import { freePort } from '../support/ports';
import { assertSameVariables, ComposePlan, readCompose, TEST_ONLY } from './compose';
import { ensureTemporalTools, ROOT, TemporalTools } from './tools';

export type Victim = 'worker' | 'api' | 'temporal' | 'postgres';

export interface DownWindow {
  victim: Victim;
  from: number;
  to?: number;
}

/** Runs a command to its end with its output in `logFile`; rejects with the log's tail. */
export function runLogged(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logFile, 'a');
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) return resolve();
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} failed: ${tail} (see ${path.relative(ROOT, logFile)})`));
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A free port for the Temporal server: below 32768, because it records its
 * membership ports in a smallint column (the OS's own picks are above).
 */
async function serverPort(taken: string[]): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!taken.includes(String(port)) && (await isPortFree(port))) return port;
  }
}

export interface Stopped {
  /** Whether it exited by itself before the SIGKILL. */
  exited: boolean;
  code: number | null;
  ms: number;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs` (docker stop's 10 s). */
function terminate(child: ChildProcess | undefined, graceMs = 10_000): Promise<Stopped> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ exited: true, code: child?.exitCode ?? null, ms: 0 });
  const started = Date.now();
  return new Promise((resolve) => {
    let forced = false;
    const timer = setTimeout(() => ((forced = true), child.kill('SIGKILL')), graceMs);
    child.once('exit', (code) => (clearTimeout(timer), resolve({ exited: !forced, code, ms: Date.now() - started })));
    child.kill('SIGTERM');
  });
}

export interface ClusterOptions {
  /** Everything the run writes: PostgreSQL data, certificates, logs. */
  dataDir: string;
  smtpUrl: string;
  /** Extra app variables (short expiries for abandoned flows). */
  appEnv?: Record<string, string>;
  /** Where the processes' logs go (default: `logs` in dataDir). */
  logDir?: string;
}

export class Cluster {
  readonly windows: DownWindow[] = [];
  readonly logDir: string;
  readonly plan: ComposePlan;
  tools!: TemporalTools;
  appEnv!: Record<string, string>;
  temporalEnv!: Record<string, string>;
  adminEnv!: Record<string, string>;
  apiUrls: string[] = [];
  /** Each process's Prometheus page: the compose file gives every container 0.0.0.0:9464; on one host each needs a port of its own. */
  readonly metricsUrls: { worker: string[]; api: string[] } = { worker: [], api: [] };
  private pg?: EmbeddedPostgresHandle;
  private pgPort = 0;
  private temporal?: ChildProcess;
  private readonly workers: (ChildProcess | undefined)[] = [];
  private readonly apis: (ChildProcess | undefined)[] = [];
  private stopped = false;

  constructor(private readonly options: ClusterOptions) {
    this.logDir = options.logDir ?? path.join(options.dataDir, 'logs');
    fs.mkdirSync(this.logDir, { recursive: true });
    this.plan = readCompose();
  }

  private log(name: string): string {
    return path.join(this.logDir, `${name}.log`);
  }

  /** Builds or reuses the server, then starts everything, checking the variables against docker-compose.yml. */
  async start(): Promise<void> {
    this.tools = await ensureTemporalTools(this.log('go-build'));
    await runLogged('npm', ['run', 'build'], this.log('build'));
    const tls = path.join(this.options.dataDir, 'tls');
    await runLogged('sh', [path.join(ROOT, 'deploy', 'tls', 'make-certs.sh'), tls, '2'], this.log('certs'));

    this.pgPort = await freePort();
    await this.startPostgres();
    const temporalPorts: Record<string, string> = {};
    for (const k of TEST_ONLY.temporal.filter((k) => k.endsWith('_PORT'))) temporalPorts[k] = String(await serverPort(Object.values(temporalPorts)));
    const frontend = `127.0.0.1:${temporalPorts.FRONTEND_GRPC_PORT}`;
    const db = { DB: 'postgres12', DB_PORT: String(this.pgPort), POSTGRES_SEEDS: '127.0.0.1', POSTGRES_USER: 'flowgate', POSTGRES_PWD: 'flowgate' };
    await runLogged('sh', [path.join(ROOT, 'deploy', 'temporal', 'setup-schema.sh')], this.log('temporal-schema'), {
      ...db, TEMPORAL_SQL_TOOL: this.tools.sql, TEMPORAL_SCHEMA_DIR: path.join(this.tools.moduleDir, 'schema'),
    });
    const cert = (f: string) => path.join(tls, f);
    this.temporalEnv = {
      ...db,
      ...temporalPorts,
      BIND_ON_IP: '127.0.0.1',
      DYNAMIC_CONFIG_FILE_PATH: path.join(ROOT, 'deploy', 'temporal', 'dynamicconfig.yaml'),
      TEMPORAL_TLS_SERVER_CA_CERT: cert('ca.pem'),
      TEMPORAL_TLS_SERVER_CERT: cert('server.pem'),
      TEMPORAL_TLS_SERVER_KEY: cert('server-key.pem'),
      TEMPORAL_TLS_INTERNODE_SERVER_NAME: 'temporal',
      TEMPORAL_TLS_FRONTEND_CERT: cert('server.pem'),
      TEMPORAL_TLS_FRONTEND_KEY: cert('server-key.pem'),
      TEMPORAL_TLS_FRONTEND_SERVER_NAME: 'temporal',
      TEMPORAL_TLS_CLIENT1_CA_CERT: cert('ca.pem'),
      TEMPORAL_TLS_CLIENT2_CA_CERT: cert('ca.pem'),
      TEMPORAL_TLS_REQUIRE_CLIENT_AUTH: 'true',
      LOG_LEVEL: 'warn',
    };
    assertSameVariables('the Temporal server', this.plan.temporalVariables, this.temporalEnv, TEST_ONLY.temporal);
    const client = {
      TEMPORAL_ADDRESS: frontend,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: cert('ca.pem'),
      TEMPORAL_TLS_CLIENT_CERT_PATH: cert('client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: cert('client-key.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    };
    await this.startTemporal();

    const cli = resolveTemporalCli();
    if (!cli) throw new Error('no Temporal CLI: run `npm run setup`');
    // A temporal.toml in the user's home must not steer the test's connections.
    const noConfigFile = path.join(this.options.dataDir, 'no-temporal.toml');
    this.adminEnv = { ...client, TEMPORAL_CLI: cli, TEMPORAL_CONFIG_FILE: noConfigFile };
    assertSameVariables('temporal-admin-tools', this.plan.adminVariables, this.adminEnv, TEST_ONLY.admin);
    await runLogged('sh', [path.join(ROOT, 'deploy', 'temporal', 'create-namespace.sh')], this.log('temporal-namespace'), this.adminEnv);

    const apiPorts = await Promise.all(Array.from({ length: this.plan.replicas.api }, () => freePort()));
    this.apiUrls = apiPorts.map((p) => `http://localhost:${p}`);
    for (const kind of ['worker', 'api'] as const) {
      for (let i = 0; i < this.plan.replicas[kind]; i++) this.metricsUrls[kind].push(`http://127.0.0.1:${await freePort()}/metrics`);
    }
    this.appEnv = {
      NODE_ENV: 'production',
      DATABASE_URL: this.pg!.url,
      ...client,
      TEMPORAL_TASK_QUEUE: 'flows',
      SMTP_URL: this.options.smtpUrl,
      MAIL_FROM: 'flowgate <no-reply@localhost>',
      // Links in mail point at the first API; the clients spread requests over both, as a load balancer would.
      PUBLIC_URL: this.apiUrls[0],
      PORT: String(apiPorts[0]),
      TOKEN_SECRET: 'cluster-secret-0123456789abcdef0123456789abcdef',
      TOKEN_SECRET_PREVIOUS: '',
      ADMIN_TOKEN: 'cluster-admin-token-0123456789abcdef',
      TRIAL_SERVICE_TOKEN: 'cluster-trial-service-0123456789abcdef',
      PAYLOAD_KEYS: `cluster-1:${Buffer.alloc(32, 11).toString('base64')}`,
      PAYLOAD_KEY_ID: 'cluster-1',
      CODEC_CORS_ORIGINS: 'http://localhost:8233',
      LOG_LEVEL: 'warn',
      // Each billing flow comes from its own X-Forwarded-For address: the per-IP mail limit is not under test here.
      TRUST_PROXY: '1',
      // Set per process below; the migrate job and the deploy gate serve none.
      METRICS_ADDRESS: 'off',
      ...this.options.appEnv,
    };
    assertSameVariables('the app', this.plan.appVariables, this.appEnv, TEST_ONLY.app);

    await runLogged(this.plan.commands.migrate[0], this.plan.commands.migrate.slice(1), this.log('migrate'), this.appEnv);
    await Promise.all([
      ...Array.from({ length: this.plan.replicas.worker }, (_, i) => this.startApp('worker', i)),
      ...Array.from({ length: this.plan.replicas.api }, (_, i) => this.startApp('api', i)),
    ]);
  }

  private async startPostgres(): Promise<void> {
    this.pg = await startEmbeddedPostgres(path.join(this.options.dataDir, 'postgres'), this.pgPort, { logFile: this.log('postgres') });
  }

  private async startTemporal(): Promise<void> {
    const log = fs.openSync(this.log('temporal'), 'a');
    // The server's built-in configuration template, rendered from the environment as in the temporalio/server image.
    const child = spawnServer(this.tools.server, ['start'], { cwd: this.options.dataDir, env: { ...process.env, ...this.temporalEnv }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.temporal = child;
    // As the compose service's `restart: unless-stopped`: a server that exits on its own (e.g. its database went away) is started again.
    child.once('exit', () => {
      if (!this.stopped && this.temporal === child) setTimeout(() => void this.startTemporal().catch(() => undefined), 1000);
    });
    await waitForPort(Number(this.temporalEnv.FRONTEND_GRPC_PORT), '127.0.0.1', 120_000, () => child.exitCode === null).catch((err) => {
      throw new Error(`the Temporal server did not start: ${(err as Error).message} (see ${path.relative(ROOT, this.log('temporal'))})`);
    });
  }

  /** One app process, from the compose file's command; a supervisor restarts it when it exits. */
  private async startApp(kind: 'worker' | 'api', index: number): Promise<void> {
    if (this.stopped) return;
    const [command, ...args] = this.plan.commands[kind];
    const metrics = { METRICS_ADDRESS: new URL(this.metricsUrls[kind][index]).host };
    const env = kind === 'api' ? { ...this.appEnv, ...metrics, PORT: new URL(this.apiUrls[index]).port } : { ...this.appEnv, ...metrics };
    const log = fs.openSync(this.log(`${kind}-${index + 1}`), 'a');
    // Watched like the servers, so that nothing is left running if this process dies.
    const child = spawnServer(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const list = kind === 'worker' ? this.workers : this.apis;
    list[index] = child;
    child.once('exit', () => {
      if (!this.stopped && list[index] === child) setTimeout(() => void this.startApp(kind, index), 1000);
    });
    if (kind === 'api') {
      await waitFor(`API ${index + 1} did not answer /readyz`, async () => (await fetch(`${this.apiUrls[index]}/readyz`)).status === 200, 120_000);
    }
  }

  /** Where a request to PUBLIC_URL goes: the next API process in turn. */
  route = (() => {
    let next = 0;
    return (url: string) => {
      const base = this.apiUrls[0];
      if (!url.startsWith(base)) return url;
      return this.apiUrls[next++ % this.apiUrls.length] + url.slice(base.length);
    };
  })();

  /** SIGKILLs one process of `victim`'s kind and restarts it after a moment, recording when it was down. */
  async kill(victim: Victim, pauseMs = 1000): Promise<void> {
    const window: DownWindow = { victim, from: Date.now() };
    this.windows.push(window);
    if (victim === 'worker' || victim === 'api') {
      const list = victim === 'worker' ? this.workers : this.apis;
      const index = this.windows.filter((w) => w.victim === victim).length % list.length;
      const child = list[index];
      list[index] = undefined; // no automatic restart: this one is restarted below
      child?.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, pauseMs));
      await this.startApp(victim, index);
    } else if (victim === 'temporal') {
      const child = this.temporal;
      this.temporal = undefined;
      child?.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, pauseMs));
      await this.startTemporal();
    } else {
      process.kill(this.pg!.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, pauseMs));
      await this.startPostgres();
    }
    window.to = Date.now() + (victim === 'worker' || victim === 'temporal' ? 5000 : 1000); // pollers and connections need a moment
  }

  /** Whether a request sent at `sentAt` and answered at `at` overlapped a time something was down (or just back). */
  wasDown(at: number, sentAt = at, graceMs = 2000): boolean {
    return this.windows.some((w) => at >= w.from - 50 && sentAt <= (w.to ?? Infinity) + graceMs);
  }

  /** Stops the app, then the servers; returns how each app process ended after its SIGTERM. */
  async stop(): Promise<(Stopped & { name: string })[]> {
    this.stopped = true;
    const app = [...this.apis.map((c, i) => [`api ${i + 1}`, c] as const), ...this.workers.map((c, i) => [`worker ${i + 1}`, c] as const)];
    const ended = await Promise.all(app.map(([, c]) => terminate(c)));
    await terminate(this.temporal, 15_000);
    await this.pg?.stop();
    return app.map(([name], i) => ({ name, ...ended[i] }));
  }
}
