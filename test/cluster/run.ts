// npm run test:cluster [-- --flows 36 --concurrency 6 --keep]
//
// The production topology (test/cluster/stack.ts: real Temporal server on
// PostgreSQL with mutual TLS, two workers and two APIs from `npm run build`,
// docker-compose.yml's commands and variables), every flow driven end to end
// through both APIs while one worker, one API, the Temporal server and
// PostgreSQL are each SIGKILLed once and restarted. Prints one line; on a
// failure, what failed, and exits non-zero. Logs stay in .data/cluster/logs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connectTemporal } from '../../src/deps';
import { createDb } from '../../src/shared/db';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import { loadTemporalSettings } from '../../src/temporalEnv';
import { loadConfig } from '../../src/config';
import { payloadDataConverter } from '../../src/shared/codec';
import { countDuplicates, DRIVERS, FlowContext, FlowOutcome, repeatedMails, settle } from '../../bench/chaosFlows';
import { SmtpSink } from '../../bench/smtpSink';
import { pool } from '../../bench/stack';
import { freePort } from '../support/ports';
import { parsePrometheus, Sample, total } from '../telemetry/prometheus';
import { Cluster, runLogged, Victim } from './stack';
import { ROOT, TEMPORAL_SERVER_VERSION } from './tools';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '36' },
    concurrency: { type: 'string', default: '6' },
    // Keep the data directory (PostgreSQL, certificates) after a passing run; logs are always kept.
    keep: { type: 'boolean', default: false },
  },
});

const DATA_DIR = path.join(ROOT, '.data', 'cluster');
/** The paths within a flow the drivers take now and then, as their checks name them. */
const VARIANTS: [string, string][] = [['password resets', 'password reset'], ['legacy server logins', 'legacy server login']];

/** Runs an entry point with one setting spoiled and returns what it printed and how it exited. */
function runEntry(argv: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => (clearTimeout(timer), resolve({ code, output })));
  });
}

/** A refused or misconfigured TLS connection stops the service with one line naming the setting. */
async function checkTlsRefusals(cluster: Cluster, foreignCa: string): Promise<string[]> {
  const { worker, api } = cluster.plan.commands;
  const env = cluster.appEnv;
  const cases: { argv: string[]; env: Record<string, string>; variable: string }[] = [
    { argv: worker, env: { TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '' }, variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH' },
    { argv: api, env: { TEMPORAL_TLS_SERVER_CA_CERT_PATH: foreignCa }, variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH' },
    { argv: worker, env: { TEMPORAL_TLS_SERVER_NAME: 'not-temporal' }, variable: 'TEMPORAL_TLS_SERVER_NAME' },
    { argv: api, env: { TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '', TEMPORAL_TLS_SERVER_NAME: '' }, variable: 'TEMPORAL_TLS' },
    { argv: worker, env: { TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(DATA_DIR, 'missing.pem') }, variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH' },
  ];
  const problems: string[] = [];
  await Promise.all(
    cases.map(async (c) => {
      const port = String(await freePort());
      const { code, output } = await runEntry(c.argv, { ...env, PORT: port, ...c.env });
      const lines = output.split('\n').filter((l) => l.trim());
      if (code === 0 || lines.length !== 1 || !lines[0].startsWith(`flowgate: ${c.variable}: `)) {
        problems.push(`${c.argv.join(' ')} with ${JSON.stringify(c.env)}: exit ${code}, printed ${JSON.stringify(output.slice(0, 400))}, expected one line naming ${c.variable}`);
      }
    }),
  );
  return problems;
}

async function main(): Promise<void> {
  const started = Date.now();
  const flows = Number(args.flows);
  fs.rmSync(DATA_DIR, { recursive: true, force: true });
  fs.mkdirSync(DATA_DIR, { recursive: true });
  fs.chmodSync(DATA_DIR, 0o755);
  const sink = new SmtpSink();
  const smtpPort = await freePort();
  await sink.listen(smtpPort);
  const cluster = new Cluster({
    dataDir: DATA_DIR,
    smtpUrl: `smtp://127.0.0.1:${smtpPort}`,
    // Short expiries, so abandoned flows expire within the run.
    appEnv: { TRIAL_VERIFICATION_TTL: '45s', EMAIL_VALIDATION_TTL: '45s', BILLING_CONFIRMATION_TTL: '45s' },
  });
  const failures: string[] = [];
  let summary = '';
  try {
    await cluster.start();
    const foreign = path.join(DATA_DIR, 'foreign-tls');
    await runLogged('sh', [path.join(ROOT, 'deploy', 'tls', 'make-certs.sh'), foreign, '1'], path.join(cluster.logDir, 'certs.log'));
    failures.push(...(await checkTlsRefusals(cluster, path.join(foreign, 'ca.pem'))));

    const target = loadTemporalSettings({ ...cluster.appEnv, TEMPORAL_CONFIG_FILE: path.join(DATA_DIR, 'no-temporal.toml') }).target!;
    // The flows' results are encrypted: the checks read them with the apps' keys.
    const temporal = await connectTemporal(target, 'default', payloadDataConverter(loadConfig({ ...cluster.appEnv, TEMPORAL_CONFIG_FILE: path.join(DATA_DIR, 'no-temporal.toml') }).payloadKeys));
    const db = createDb(cluster.appEnv.DATABASE_URL);
    const http5xx: { at: number; sentAt: number; url: string; status: number }[] = [];
    const ctx: FlowContext = {
      baseUrl: cluster.appEnv.PUBLIC_URL,
      adminToken: cluster.appEnv.ADMIN_TOKEN,
      serviceToken: cluster.appEnv.TRIAL_SERVICE_TOKEN,
      sink,
      db,
      random: (() => {
        let s = 14;
        return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
      })(),
      on5xx: (url, status, sentAt) => http5xx.push({ at: Date.now(), sentAt, url, status }),
      route: cluster.route,
    };

    // One of each fault, spread over the run: each fires once enough flows have been driven.
    const faults: { victim: Victim; after: number }[] = (['worker', 'api', 'temporal', 'postgres'] as const).map((victim, i) => ({ victim, after: Math.max(1, Math.round(((i + 1) * flows) / 5)) }));
    const killing: Promise<void>[] = [];
    const outcomes: FlowOutcome[] = [];
    await pool(flows, Number(args.concurrency), async (i) => {
      const driver = DRIVERS[i % DRIVERS.length];
      try {
        outcomes.push(await driver.run(ctx, `cluster-${i}`));
      } catch (err) {
        const detail = `${driver.name} ${i}: ${String((err as Error)?.message ?? err).slice(0, 300)}`;
        outcomes.push({ kind: driver.name, final: true, check: async () => ({ ok: false, detail }) });
      }
    }, (done) => {
      const due = faults.find((f) => f.after <= done);
      if (!due) return;
      faults.splice(faults.indexOf(due), 1);
      killing.push(cluster.kill(due.victim));
    });
    await Promise.all(killing);
    const checks = await settle(outcomes, temporal, db);
    const duplicates = await countDuplicates(db);
    const { byId, repeatedMails: repeated } = repeatedMails(sink.messages, cluster.windows);
    const unexpected5xx = http5xx.filter((e) => !cluster.wasDown(e.at, e.sentAt));
    const registered = await temporal.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    const missingAttributes = ALL_SEARCH_ATTRIBUTES.filter((k) => !(k.name in (registered.customAttributes ?? {})));

    const bad = checks.filter((c) => !c.ok);
    failures.push(...bad.map((c) => `flow not as designed: ${c.detail}`));
    for (const [table, n] of Object.entries(duplicates)) if (n !== 0) failures.push(`${table}: ${n} rows created twice`);
    failures.push(...repeated.map((m) => `mail "${m.subject}" received ${m.copies} times (${m.why})`));
    failures.push(...unexpected5xx.map((e) => `HTTP ${e.status} from ${e.url} while every process was up`));
    if (missingAttributes.length) failures.push(`search attributes not registered: ${missingAttributes.map((k) => k.name).join(', ')}`);
    failures.push(...(await checkMetricsPages(cluster)));
    const kills = cluster.windows.map((w) => w.victim);
    for (const victim of ['worker', 'api', 'temporal', 'postgres']) if (!kills.includes(victim as Victim)) failures.push(`${victim} was not killed`);
    for (const [what, marker] of VARIANTS) if (!checks.some((c) => c.detail.includes(marker))) failures.push(`no flow took its ${what.replace(/s$/, '')} path`);

    // The deploy gate, as an operator runs it before a deploy: every execution of the run replays against the built bundle.
    const gate = await runEntry(['node', 'dist/scripts/replay.js', '--since', '1h'], cluster.appEnv, 300_000);
    const replayed = Number(/^replay: (\d+) executions .* 0 would fail$/m.exec(gate.output)?.[1] ?? 0);
    if (gate.code !== 0 || replayed < flows) failures.push(`npm run replay: exit ${gate.code}, expected at least ${flows} executions replayed without failure, printed ${JSON.stringify(gate.output.slice(0, 400))}`);

    const byKind = DRIVERS.map((d) => `${d.name} ${checks.filter((c) => c.kind === d.name && c.ok).length}`).join(', ');
    const variants = VARIANTS.map(([what, marker]) => `${checks.filter((c) => c.ok && c.detail.includes(marker)).length} ${what}`).join(', ');
    const build = cluster.tools.builtSeconds ? `built in ${cluster.tools.builtSeconds} s` : 'cached';
    summary =
      `test:cluster: ${checks.length - bad.length}/${flows} flows as designed (${byKind}; among them ${variants}) through ${cluster.plan.replicas.api} APIs and ${cluster.plan.replicas.worker} workers ` +
      `on Temporal ${TEMPORAL_SERVER_VERSION} (${build}) with mutual TLS; SIGKILLed ${kills.join(', ')}; ` +
      `${Object.values(duplicates).reduce((a, b) => a + b, 0)} duplicate rows, ${repeated.length} of ${byId.size} mails repeated; ` +
      `TLS misconfigurations named their variable; metrics served by every process; ${replayed} executions replayed by the deploy gate; docker-compose.yml matched; ${Math.round((Date.now() - started) / 1000)} s`;
    await temporal.connection.close();
    await db.$disconnect();
    // As `docker compose stop` does: SIGTERM, and SIGKILL 10 s later.
    const ended = await cluster.stop();
    for (const p of ended) {
      if (!p.exited) failures.push(`${p.name} did not exit within 10 s of SIGTERM`);
      else if (p.code !== 0) failures.push(`${p.name} exited with code ${p.code} ${p.ms} ms after SIGTERM: it cut work short (see its log)`);
    }
    const slowest = ended.reduce((a, b) => (b.ms > a.ms ? b : a));
    summary = summary.replace(/; (\d+ s)$/, `; stopped in ${slowest.ms} ms at most (${slowest.name}); $1`);
  } catch (err) {
    failures.push(`the run stopped: ${(err as Error)?.message ?? err}`);
  } finally {
    await cluster.stop().catch(() => undefined);
    await sink.close();
  }
  if (failures.length) {
    process.stderr.write(`test:cluster FAILED (${failures.length} problems; logs in ${path.relative(ROOT, cluster.logDir)}):\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
    process.exit(1);
  }
  if (!args.keep) for (const entry of fs.readdirSync(DATA_DIR)) if (entry !== 'logs') fs.rmSync(path.join(DATA_DIR, entry), { recursive: true, force: true });
  process.stdout.write(summary + '\n');
  process.exit(0);
}

/** Every worker and API serves its Prometheus page, as compose's METRICS_ADDRESS asks; the workers' carry the SDK runtime's metrics. */
async function checkMetricsPages(cluster: Cluster): Promise<string[]> {
  const problems: string[] = [];
  const pages: Record<'worker' | 'api', Sample[][]> = { worker: [], api: [] };
  for (const kind of ['worker', 'api'] as const) {
    for (const url of cluster.metricsUrls[kind]) {
      const res = await fetch(url).catch((err: Error) => err);
      if (res instanceof Error || res.status !== 200) {
        problems.push(`${kind} metrics at ${url}: ${res instanceof Error ? res.message : `HTTP ${res.status}`}`);
        continue;
      }
      pages[kind].push(parsePrometheus(await res.text()));
    }
  }
  if (problems.length) return problems;
  if (!pages.worker.every((p) => p.some((s) => s.name === 'temporal_num_pollers'))) problems.push("a worker's metrics lack the SDK runtime's");
  // Counters start again with a process killed during the run: the sums over each kind are what the flows must show.
  if (pages.worker.reduce((n, p) => n + total(p, 'flowgate_flows_started_total'), 0) === 0) problems.push("the workers' metrics count no flow started");
  if (pages.api.reduce((n, p) => n + total(p, 'flowgate_http_requests_total'), 0) === 0) problems.push("the APIs' metrics count no request");
  return problems;
}

void main();
