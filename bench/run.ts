// npm run bench [-- --flows 200 --concurrency 8 --waiting 2000]  (--waiting 10000 for the full scale figure)
//
// Measures, in one run against the service started as `npm start` starts it:
//  1. the engine baseline: trivial workflows that wait for one update;
//  2. complete trial sign-ups through HTTP (register -> mail -> link click -> form post);
//  3. the ratios of the two;
//  4. many trials waiting on their timers: worker memory and a link click among them.
// Results go to bench/results/latest.json and are printed as a table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { SmtpSink, SinkMessage } from './smtpSink';
import { CpuMeter, freePort, percentile, pool, rssMiB, ROOT, ServiceProcess, startServiceProcess } from './stack';
import { PageClient } from '../test/support/pageClient';
import { finish } from './baseline.workflow';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    waiting: { type: 'string', default: '2000' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results', 'latest.json') },
  },
});
const N = Number(args.flows);
const C = Number(args.concurrency);
const WAITING = Number(args.waiting);

function progress(label: string, done: number, total: number): void {
  if (done === total || done % Math.max(1, Math.floor(total / 50)) === 0) {
    process.stderr.write(`\r${label}: ${done}/${total}   ${done === total ? '\n' : ''}`);
  }
}

async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const result = await fn();
  samples.push(performance.now() - t);
  return result;
}

async function http(method: string, url: string, body?: unknown): Promise<Response> {
  const res = await fetch(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    redirect: 'manual',
  });
  if (res.status >= 400) throw new Error(`${method} ${url} -> ${res.status}: ${await res.text()}`);
  return res;
}

/** The verification link in a trial mail and the token it carries. */
function trialLink(mail: SinkMessage, baseUrl: string): { link: string; token: string } {
  const link = mail.text.match(/https?:\/\/\S+/g)?.find((l) => l.startsWith(baseUrl));
  if (!link) throw new Error(`no link in mail "${mail.subject}"`);
  const url = new URL(link);
  const token = url.searchParams.get('token') ?? decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '');
  return { link, token };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const sink = new SmtpSink();
  const smtpPort = await freePort();
  await sink.listen(smtpPort);
  process.stderr.write('starting the service (embedded PostgreSQL and Temporal dev server)...\n');
  const service = await startServiceProcess(`smtp://127.0.0.1:${smtpPort}`, { TEMPORAL_UI: '0' });
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` },
    settings: { flows: N, concurrency: C, waiting: WAITING },
  };
  try {
    // 1. Engine baseline: the same Temporal server, a worker in this process.
    const connection = await Connection.connect({ address: service.temporalAddress });
    const client = new Client({ connection });
    const worker = await Worker.create({
      connection: await NativeConnection.connect({ address: service.temporalAddress }),
      taskQueue: 'bench-baseline',
      workflowsPath: require.resolve('./baseline.workflow'),
    });
    const running = worker.run();
    const updateMs: number[] = [];
    const cpu = new CpuMeter(service.child.pid!);
    const baseCpu = cpu.mark();
    const baseStart = performance.now();
    await pool(N, C, async (i) => {
      const handle = await client.workflow.start('baselineFlow', { taskQueue: 'bench-baseline', workflowId: `bench-baseline-${Date.now()}-${i}` });
      await timed(updateMs, () => handle.executeUpdate(finish, { args: ['done'] }));
      await handle.result();
    }, (d) => progress('engine baseline', d, N));
    const baseSeconds = (performance.now() - baseStart) / 1000;
    const baseCpuPerFlow = cpu.perFlow(baseCpu, N, baseSeconds);
    worker.shutdown();
    await running;
    const baseline = { flowsPerSecond: round(N / baseSeconds), updateP50Ms: percentile(updateMs, 50), updateP99Ms: percentile(updateMs, 99), cpuMsPerFlow: baseCpuPerFlow };
    results.baseline = baseline;

    // 2. Product flows: complete trial sign-ups through HTTP, as a person makes them:
    // registration, the verification mail, the link click (verifies the token and
    // shows the password form), the form post (creates account and app).
    const steps = { register: [] as number[], mail: [] as number[], linkClick: [] as number[], formPost: [] as number[] };
    const runId = Date.now().toString(36);
    const prodCpu = cpu.mark();
    const prodStart = performance.now();
    await pool(N, C, async (i) => {
      const email = `bench-${runId}-${i}@example.test`;
      await timed(steps.register, () => http('POST', `${service.baseUrl}/api/trial/register`, { username: email, firstname: 'Bench', lastname: String(i) }));
      const mail = await timed(steps.mail, () => sink.next(email));
      const { link, token } = trialLink(mail, service.baseUrl);
      const browser = new PageClient(service.baseUrl);
      const form = await timed(steps.linkClick, () => browser.get(link));
      if (form.status !== 200 || !form.text.includes('name="password"')) throw new Error(`link click -> ${form.status} ${form.h1}`);
      const password = 'Bench-pass-1!';
      const ready = await timed(steps.formPost, () => browser.post('/trial/register', { token, password, confirmation: password, firstname: 'Bench', lastname: String(i) }));
      if (ready.status !== 201) throw new Error(`form post -> ${ready.status} ${ready.h1}`);
    }, (d) => progress('trial sign-ups', d, N));
    const prodSeconds = (performance.now() - prodStart) / 1000;
    const product = {
      flowsPerSecond: round(N / prodSeconds),
      stepsMs: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, { p50: percentile(v, 50), p99: percentile(v, 99) }])),
      cpuMsPerFlow: cpu.perFlow(prodCpu, N, prodSeconds),
    };
    results.product = product;

    // 3. Ratios.
    results.ratios = {
      productOverBaselineFlowsPerSecond: round(product.flowsPerSecond / baseline.flowsPerSecond),
      linkClickP99OverBaselineUpdateP99: round(percentile(steps.linkClick, 99) / baseline.updateP99Ms),
      targets: { productOverBaselineFlowsPerSecond: '>= 0.5', linkClickP99OverBaselineUpdateP99: '<= 2' },
    };

    // 4. Many flows waiting on their timers (trials awaiting verification).
    if (WAITING > 0) results.waiting = await measureWaiting(service, sink, runId);
    await connection.close();
  } finally {
    await service.stop();
    await sink.close();
  }
  fs.mkdirSync(path.dirname(args.out!), { recursive: true });
  fs.writeFileSync(args.out!, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\n${JSON.stringify(results, null, 2)}\nwritten to ${path.relative(ROOT, args.out!)}\n`);
}

/** Starts WAITING trials that park on their timers; memory of the service and a click among them. */
async function measureWaiting(service: ServiceProcess, sink: SmtpSink, runId: string) {
  const pid = service.child.pid!;
  const rss: Record<string, number> = { beforeWaiting: rssMiB(pid) };
  const waitStart = performance.now();
  let firstLink: string | undefined;
  await pool(WAITING, 16, async (i) => {
    const email = `wait-${runId}-${i}@example.test`;
    await http('POST', `${service.baseUrl}/api/trial/register`, { username: email });
    if (i === 0) firstLink = trialLink(await sink.next(email), service.baseUrl).link;
  }, (d) => {
    progress('waiting flows', d, WAITING);
    if (d === 1000) rss.at1000 = rssMiB(pid);
  });
  // Every flow has sent its mail: all are now parked on their timers.
  const deadline = Date.now() + 600_000;
  while (sink.messages.filter((m) => m.to[0]?.startsWith(`wait-${runId}-`)).length < WAITING && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
  }
  rss[`at${WAITING}`] = rssMiB(pid);
  const clickMs: number[] = [];
  for (let k = 0; k < 20; k++) await timed(clickMs, async () => void (await (await http('GET', firstLink!)).text()));
  return {
    flows: WAITING,
    startSeconds: round((performance.now() - waitStart) / 1000),
    serviceRssMiB: rss,
    linkClickAmongWaitingMs: { p50: percentile(clickMs, 50), p99: percentile(clickMs, 99) },
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`\nbench failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
