// npm run bench [-- --flows 200 --concurrency 8 --waiting 1000,5000,20000]
//
// Measures, in one run against the service started as `npm start` starts it:
//  1. the engine baseline: trivial workflows that wait for one update;
//  2. complete flows through HTTP, each step timed: trial sign-ups (register ->
//     mail -> link click -> form post), team invitations (create -> mail ->
//     link click -> account -> join), billing logins (access URL -> email ->
//     mail -> confirmation click -> confirm-login);
//  3. the ratios of each to the baseline;
//  4. many trials waiting on their timers, started in parallel through the
//     registration endpoint: the service's memory at each checkpoint, link
//     clicks on warm (cached) and cold (evicted) flows among them, and trial
//     sign-ups again with all of them waiting.
// Results go to bench/results/latest.json and are printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { SmtpSink } from './smtpSink';
import { CpuMeter, freePort, memoryBreakdown, percentile, pool, rssMiB, ROOT, ServiceProcess, startServiceProcess } from './stack';
import { tryAgain, billingLogin, billingServer, BillingServer, billingSteps, Bench, http, invitation, invitationSteps, inviter, linkIn, Steps, timed, trialSignUp, trialSteps } from './flows';
import { finish } from './baseline.workflow';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    // Checkpoints of the waiting phase; the last is how many flows wait in all (0: no waiting phase).
    waiting: { type: 'string', default: '1000,5000,20000' },
    'seed-concurrency': { type: 'string', default: '32' },
    clicks: { type: 'string', default: '100' },
    // Time the waiting phase may spend starting flows: on a busy machine its last checkpoint becomes
    // however many had started by then, so the whole run stays within about half an hour.
    'seed-minutes': { type: 'string', default: '20' },
    // WORKER_MAX_CACHED_WORKFLOWS for the service (unset: its default).
    cache: { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results', 'latest.json') },
    // A directory for the service's V8 CPU profile (written when it stops), to see where its share goes.
    profile: { type: 'string' },
  },
});
const N = Number(args.flows);
const C = Number(args.concurrency);
const CHECKPOINTS = args.waiting!.split(',').map(Number).filter((n) => n > 0).sort((a, b) => a - b);
const WAITING = CHECKPOINTS[CHECKPOINTS.length - 1] ?? 0;
const SEED_C = Number(args['seed-concurrency']);
const CLICKS = Number(args.clicks);
const SEED_MS = Number(args['seed-minutes']) * 60_000;

function progress(label: string, done: number, total: number): void {
  if (done === total || done % Math.max(1, Math.floor(total / 50)) === 0) {
    process.stderr.write(`\r${label}: ${done}/${total}   ${done === total ? '\n' : ''}`);
  }
}

function stepsSummary(steps: Steps) {
  return Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, { p50: percentile(v, 50), p99: percentile(v, 99) }]));
}

/** N flows of one kind, C at once: flows/s, each step's p50/p99, CPU per flow by component. */
async function measureFlows(label: string, cpu: CpuMeter, steps: Steps, flow: (i: number) => Promise<void>) {
  const from = cpu.mark();
  const started = performance.now();
  await pool(N, C, flow, (d) => progress(label, d, N));
  const seconds = (performance.now() - started) / 1000;
  return { flowsPerSecond: round(N / seconds), stepsMs: stepsSummary(steps), cpuMsPerFlow: cpu.perFlow(from, N, seconds) };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const sink = new SmtpSink();
  const smtpPort = await freePort();
  await sink.listen(smtpPort);
  process.stderr.write('starting the service (embedded PostgreSQL and Temporal dev server)...\n');
  const metricsPort = await freePort();
  const service = await startServiceProcess(`smtp://127.0.0.1:${smtpPort}`, {
    TEMPORAL_UI: '0',
    // One inviter sends every invitation; each billing login comes from an X-Forwarded-For address of its own.
    INVITATIONS_PER_INVITER_PER_DAY: '1000000',
    INVITATIONS_PER_TEAM_PER_DAY: '1000000',
    TRUST_PROXY: '1',
    // Each step is waited for as long as it takes: the bench measures how long, while other work may share the machine.
    UPDATE_DEADLINE: '120s',
    // Its own account of its memory, read at each checkpoint of the waiting phase.
    METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    ...(args.cache ? { WORKER_MAX_CACHED_WORKFLOWS: args.cache } : {}),
  }, { cpuProfileDir: args.profile && path.resolve(args.profile) });
  const b: Bench = { baseUrl: service.baseUrl, sink };
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` },
    settings: { flows: N, concurrency: C, waiting: CHECKPOINTS, seedConcurrency: SEED_C, clicks: CLICKS, workerMaxCachedWorkflows: args.cache ?? 'default' },
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

    // 2. Product flows through HTTP, as people make them.
    const runId = Date.now().toString(36);
    const steps = { trial: trialSteps(), invitation: invitationSteps(), billing: billingSteps(), trialWhileWaiting: trialSteps() };
    const product = await measureFlows('trial sign-ups', cpu, steps.trial, (i) => trialSignUp(b, steps.trial, `bench-${runId}-${i}@example.test`, i));
    results.product = product;
    save(results);
    const who = await inviter(b, runId);
    const invitationResult = await measureFlows('team invitations', cpu, steps.invitation, (i) => invitation(b, steps.invitation, who, runId, i));
    results.invitation = invitationResult;
    save(results);
    // A server of its own for each login (the daily confirmation-mail limit is per server), registered beforehand.
    const servers = new Array<BillingServer>(N);
    await pool(N, C, async (i) => void (servers[i] = await billingServer(b, `${runId}-${i}`)));
    const billingResult = await measureFlows('billing logins', cpu, steps.billing, (i) => billingLogin(b, steps.billing, servers[i], runId, i));
    results.billing = billingResult;

    // 3. Ratios.
    const over = (flowsPerSecond: number) => round(flowsPerSecond / baseline.flowsPerSecond);
    results.ratios = {
      productOverBaselineFlowsPerSecond: over(product.flowsPerSecond),
      invitationOverBaselineFlowsPerSecond: over(invitationResult.flowsPerSecond),
      billingOverBaselineFlowsPerSecond: over(billingResult.flowsPerSecond),
      linkClickP99OverBaselineUpdateP99: round(percentile(steps.trial.linkClick, 99) / baseline.updateP99Ms),
      invitationLinkClickP99OverBaselineUpdateP99: round(percentile(steps.invitation.linkClick, 99) / baseline.updateP99Ms),
      billingConfirmationClickP99OverBaselineUpdateP99: round(percentile(steps.billing.confirmationClick, 99) / baseline.updateP99Ms),
      targets: { productOverBaselineFlowsPerSecond: '>= 0.5', linkClickP99OverBaselineUpdateP99: '<= 2' },
    };

    // 4. Many flows waiting on their timers (trials awaiting verification).
    if (WAITING > 0) {
      const waiting = await measureWaiting(service, b, metricsUrl, cpu, runId, baseline.updateP99Ms, (partial) => save({ ...results, waiting: partial }));
      // The same sign-ups with every one of those flows waiting: their cost must not grow with them.
      const loaded = await measureFlows(`trial sign-ups with ${waiting.flows} waiting`, cpu, steps.trialWhileWaiting, (i) =>
        trialSignUp(b, steps.trialWhileWaiting, `bench-${runId}-w${i}@example.test`, i),
      );
      results.waiting = {
        ...waiting,
        signUpsWhileWaiting: loaded,
        cpuMsPerSignUp: { noneWaiting: product.cpuMsPerFlow.total, [`with${waiting.flows}Waiting`]: loaded.cpuMsPerFlow.total, ratio: round(loaded.cpuMsPerFlow.total / product.cpuMsPerFlow.total) },
        signUpsPerSecond: { noneWaiting: product.flowsPerSecond, [`with${waiting.flows}Waiting`]: loaded.flowsPerSecond },
      };
    }
    await connection.close();
  } catch (err) {
    process.stderr.write(`\nthe service printed:\n${service.output().split('\n').slice(-40).join('\n')}\n`);
    throw err;
  } finally {
    await service.stop();
    await sink.close();
  }
  save(results);
  process.stdout.write(`\n${JSON.stringify(results, null, 2)}\nwritten to ${path.relative(ROOT, args.out!)}\n`);
}

/**
 * Starts trials that park on their timers (awaiting verification), in
 * parallel through the registration endpoint, up to each checkpoint; at each
 * one, once every flow started so far has sent its mail, the service's
 * resident memory. Then link clicks among them: on the last flows started
 * (still in the worker's cache) and on the first (long evicted, so the click
 * replays the flow's history first).
 */
async function measureWaiting(service: ServiceProcess, b: Bench, metricsUrl: string, cpu: CpuMeter, runId: string, baselineUpdateP99Ms: number, checkpointed: (partial: unknown) => void) {
  const pid = service.child.pid!;
  const rss: Record<string, number> = { beforeWaiting: rssMiB(pid) };
  const memory: Record<string, unknown> = { beforeWaiting: await memoryBreakdown(metricsUrl) };
  const seconds: Record<string, number> = {};
  const emailOf = (i: number) => `wait-${runId}-${i}@example.test`;
  const waitStart = performance.now();
  const linkOf = async (i: number) => linkIn(await b.sink.next(emailOf(i)), b.baseUrl);
  const clicks = async (indices: number[]) => {
    const ms: number[] = [];
    for (const i of indices) {
      const link = await linkOf(i);
      await timed(ms, async () => {
        const page = await http('GET', link);
        if (!page.text.includes('name="password"')) throw new Error(`click on waiting flow ${i}: no form`);
      });
    }
    return { p50: percentile(ms, 50), p99: percentile(ms, 99), overBaselineUpdateP99: round(percentile(ms, 99) / baselineUpdateP99Ms) };
  };
  let started = 0;
  // RSS against flows registered, every 2 s while they start: one reading per checkpoint lands
  // wherever the garbage collector happens to be, a line through hundreds does not.
  let registered = 0;
  const trace: { flows: number; rssMiB: number }[] = [];
  const sampler = setInterval(() => trace.push({ flows: registered, rssMiB: rssMiB(pid) }), 2000);
  const reached: number[] = [];
  const clicksAt: Record<string, unknown> = {};
  const seedUntil = Date.now() + SEED_MS;
  const cpuPerStart: Record<string, unknown> = {};
  for (const planned of CHECKPOINTS) {
    const from = started;
    const segment = { cpu: cpu.mark(), at: performance.now() };
    let next = from;
    await pool(planned - from, SEED_C, async () => {
      if (Date.now() > seedUntil) return;
      const i = next++;
      await http('POST', `${b.baseUrl}/api/trial/register`, { json: { username: emailOf(i) } });
      registered++;
    }, (d) => progress(`waiting flows (to ${planned})`, from + d, planned));
    const checkpoint = next;
    started = checkpoint;
    // Parked on their timers once each has sent its mail.
    await pool(checkpoint - from, 64, async (k) => void (await b.sink.next(emailOf(from + k), 600_000)));
    rss[`at${checkpoint}`] = rssMiB(pid);
    memory[`at${checkpoint}`] = await memoryBreakdown(metricsUrl);
    seconds[`to${checkpoint}`] = round((performance.now() - waitStart) / 1000);
    cpuPerStart[`${from}to${checkpoint}`] = cpu.perFlow(segment.cpu, checkpoint - from, (performance.now() - segment.at) / 1000);
    reached.push(checkpoint);
    // Clicks at each checkpoint, each on a flow not clicked before: warm on the last started, cold on the oldest.
    const count = Math.min(CLICKS, Math.floor((checkpoint - from) / 4));
    const coldFrom = (reached.length - 1) * count;
    const warm = await clicks(Array.from({ length: count }, (_, k) => checkpoint - 1 - k));
    const cold = await clicks(Array.from({ length: count }, (_, k) => coldFrom + k));
    clicksAt[`at${checkpoint}`] = { warm, cold, clicksEach: count };
    checkpointed({ serviceRssMiB: rss, serviceMemory: memory, startedWithinSeconds: seconds, linkClickAmongWaitingMs: clicksAt });
    if (checkpoint < planned) break;
  }
  clearInterval(sampler);
  const total = started;
  const [lo, hi] = reached.length >= 2 ? [reached[reached.length - 2], total] : [0, total];
  const low = lo ? rss[`at${lo}`] : rss.beforeWaiting;
  const between = trace.filter((t) => t.flows >= lo && t.flows <= hi);
  const rssValues = between.map((t) => t.rssMiB);
  return {
    flows: total,
    startedWithinSeconds: seconds,
    cpuMsPerFlowStarted: cpuPerStart,
    serviceRssMiB: rss,
    serviceMemory: memory,
    rssSlopeMiBPerThousand: {
      between: `${lo} and ${hi}`,
      // Least squares over every reading taken while those flows started.
      value: round(slope(between.map((t) => [t.flows, t.rssMiB])) * 1000),
      readings: between.length,
      readingsRangeMiB: rssValues.length ? { min: Math.min(...rssValues), max: Math.max(...rssValues) } : null,
      fromTheTwoCheckpoints: round(((rss[`at${hi}`] - low) / (hi - lo)) * 1000),
      target: '<= 5',
    },
    rssTrace: trace,
    linkClickAmongWaitingMs: clicksAt,
  };
}

/** Written after every phase too, so a run stopped early keeps what it measured. */
function save(results: Record<string, unknown>): void {
  results.tryAgainAnswersRetried = tryAgain.count;
  fs.mkdirSync(path.dirname(args.out!), { recursive: true });
  fs.writeFileSync(args.out!, JSON.stringify(results, null, 2) + '\n');
}

/** The least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx === 0 ? NaN : points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx;
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
