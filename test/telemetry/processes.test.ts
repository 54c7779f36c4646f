import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../support/ports';
import { uniqueEmail, waitForEmail } from '../support/mailbox';
import { ConfigError, loadConfig } from '../../src/config';
import { parsePrometheus, total } from './prometheus';

/**
 * The production shape: the worker (`npm run worker`) and the API (`npm run
 * api`) as processes of their own, each with its metrics page at
 * METRICS_ADDRESS; a registration through the API shows up on both.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const children: { child: ChildProcess; output: () => string; exited: Promise<number | null> }[] = [];

function run(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...env } });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  children.push({ child, output: () => output, exited });
}

afterAll(async () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
});

/** Fetches `url` until `ready` holds for its text (the processes start in a few seconds). */
async function pageWhen(url: string, ready: (page: string) => boolean, timeoutMs = 45_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await fetch(url).then((r) => (r.ok ? r.text() : ''), () => '');
    if (ready(page)) return page;
    if (Date.now() > deadline) throw new Error(`${url} never got ready; the processes said:\n${children.map((c) => c.output()).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('metrics of the worker and the API run apart', () => {
  it('serves each process its page: requests on the API, mails and flows on the worker', async () => {
    const [apiPort, apiMetrics, workerMetrics] = [await freePort(), await freePort(), await freePort()];
    const common = { TEMPORAL_TASK_QUEUE: `apart-${apiPort}`, PORT: String(apiPort), PUBLIC_URL: `http://localhost:${apiPort}` };
    run('src/worker.ts', { ...common, METRICS_ADDRESS: `127.0.0.1:${workerMetrics}` });
    run('src/api/server.ts', { ...common, METRICS_ADDRESS: String(apiMetrics) });
    await pageWhen(`http://127.0.0.1:${workerMetrics}/metrics`, (p) => p.includes('temporal_num_pollers'));
    await pageWhen(`http://127.0.0.1:${apiMetrics}/metrics`, (p) => p.includes('flowgate_http_requests_total'));

    const email = uniqueEmail('apart');
    const res = await fetch(`http://localhost:${apiPort}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
    expect(res.status).toBe(202);
    await waitForEmail(email, /Verify your email/);

    const api = parsePrometheus(await pageWhen(`http://127.0.0.1:${apiMetrics}/metrics`, (p) => p.includes('route="/api/trial/register"')));
    expect(total(api, 'flowgate_http_requests_total', { route: '/api/trial/register', status: '202' })).toBe(1);
    const worker = parsePrometheus(await pageWhen(`http://127.0.0.1:${workerMetrics}/metrics`, (p) => p.includes('flowgate_flows_started_total')));
    expect(total(worker, 'flowgate_mails_sent_total')).toBe(1);
    expect(total(worker, 'flowgate_flows_started_total', { flow_kind: 'trial', taskQueue: common.TEMPORAL_TASK_QUEUE })).toBe(1);
    expect(total(worker, 'flowgate_http_requests_total')).toBe(0);
    // The API process runs no worker: no SDK runtime metrics there.
    expect(api.some((s) => s.name.startsWith('temporal_'))).toBe(false);
  });

  it('stop on SIGTERM within their deadline, with nothing cut short', async () => {
    expect(children).toHaveLength(2);
    const signalled = Date.now();
    for (const { child } of children) child.kill('SIGTERM');
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
    expect(Date.now() - signalled).toBeLessThan(9000);
  });

  it('reads METRICS_ADDRESS as host:port, a port, or off, and names it when it is neither', () => {
    expect(loadConfig({ ...process.env, METRICS_ADDRESS: '0.0.0.0:9464' }).telemetry.metricsAddress).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(loadConfig({ ...process.env, METRICS_ADDRESS: '[::1]:9464' }).telemetry.metricsAddress).toEqual({ host: '::1', port: 9464 });
    expect(loadConfig({ ...process.env, METRICS_ADDRESS: '9000' }).telemetry.metricsAddress).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(loadConfig({ ...process.env, METRICS_ADDRESS: 'off' }).telemetry.metricsAddress).toBe('off');
    expect(() => loadConfig({ ...process.env, METRICS_ADDRESS: 'http://x:1/metrics' })).toThrow(new ConfigError('METRICS_ADDRESS', '"http://x:1/metrics" is not host:port, a port, or off'));
    expect(loadConfig({ ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).telemetry.tracesUrl).toBe('http://collector:4318/v1/traces');
    expect(() => loadConfig({ ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});
