import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { startService, TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { freePort } from '../support/ports';
import { serveMetrics } from '../../src/telemetry/metrics';
import { close } from '../../src/shutdown';
import { parsePrometheus, Sample, total } from './prometheus';
import { MAILS_PER_HOUR } from '../../src/workflows/trial/messages';

/**
 * The metrics page as `npm start` serves it (worker and API in one process):
 * scraped after a trial went from registration to its account, it counts
 * that flow everywhere it went.
 */
let svc: TestService;
let metrics: http.Server;
let metricsUrl: string;

beforeAll(async () => {
  svc = await startService();
  const port = await freePort();
  metrics = await serveMetrics({ host: '127.0.0.1', port });
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
});
afterAll(async () => {
  if (metrics) await close(metrics);
  await svc?.stop();
});

async function post(path: string, body: unknown) {
  return fetch(`${svc.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(metricsUrl);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheus(await res.text());
}

/** Scrapes until `ready` holds: workflow-side counters reach the page once the workflow task that counted them has completed. */
async function scrapeUntil(ready: (samples: Sample[]) => boolean, timeoutMs = 20_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await scrape();
    if (ready(samples) || Date.now() > deadline) return samples;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the metrics endpoint', () => {
  it("counts a trial's requests, mails, steps, start and funnel stages, beside the SDK runtime's metrics", async () => {
    const email = uniqueEmail('metrics');
    expect((await post('/api/trial/register', { username: email })).status).toBe(202);
    const mail = await waitForEmail(email, /Verify your email/);
    const token = new URL(linkIn(mail, `${svc.baseUrl}/trial/register?token=`)).searchParams.get('token')!;
    expect((await post('/api/trial/verify', { token })).status).toBe(200);
    expect((await post('/api/trial/creation', { token, password: 'Trial-pass-123' })).status).toBe(201);

    // The SDK runtime labels workflow-side metrics with the workflow type and task queue.
    const trial = { workflowType: 'trialWorkflow', flow_kind: 'trial', taskQueue: svc.config.temporal.taskQueue };
    const samples = await scrapeUntil((s) => total(s, 'flowgate_flow_stage_reached_total', { ...trial, stage: 'created' }) >= 1);

    // The API's: requests by route template and status.
    expect(total(samples, 'flowgate_http_requests_total', { method: 'POST', route: '/api/trial/register', status: '202' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'flowgate_http_requests_total', { method: 'POST', route: '/api/trial/creation', status: '201' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'flowgate_http_request_duration_seconds_count', { route: '/api/trial/verify' })).toBeGreaterThanOrEqual(1);
    // The activities': mails and step latencies.
    expect(total(samples, 'flowgate_mails_sent_total')).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'flowgate_step_duration_seconds_count', { flow_kind: 'trial', outcome: 'completed' })).toBeGreaterThanOrEqual(2);
    // The workflow's: the flow started, and the funnel up to its account.
    expect(total(samples, 'flowgate_flows_started_total', trial)).toBeGreaterThanOrEqual(1);
    for (const stage of ['started', 'verified', 'created']) expect(total(samples, 'flowgate_flow_stage_reached_total', { ...trial, stage })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'flowgate_flow_stage_reached_total', { ...trial, stage: 'converted' })).toBe(0);
    // The SDK runtime's own, through the same page.
    expect(total(samples, 'temporal_workflow_task_execution_latency_count', { task_queue: trial.taskQueue })).toBeGreaterThanOrEqual(1);
    // Families that count when something is refused or held back, present before it happens.
    const names = new Set(samples.map((s) => s.name));
    const page = await (await fetch(metricsUrl)).text();
    for (const family of ['flowgate_refusals_total', 'flowgate_rate_limit_hits_total', 'flowgate_mails_failed_total']) expect(page).toContain(`# TYPE ${family} counter`);
    expect(names.has('process_cpu_user_seconds_total')).toBe(true);
  });

  it('counts a refused request by its failure type, and its 429 as a rate-limit hit', async () => {
    // Registration mails are capped per address and hour: the request after the cap is refused with 429.
    const email = uniqueEmail('capped');
    const statuses: number[] = [];
    for (let i = 0; i <= MAILS_PER_HOUR; i++) statuses.push((await post('/api/trial/register', { username: email })).status);
    expect(statuses).toEqual([...Array(MAILS_PER_HOUR).fill(202), 429]);
    const samples = await scrapeUntil((s) => total(s, 'flowgate_flow_refusals_total', { flow_kind: 'trial', type: 'TrialThrottled' }) >= 1);
    expect(total(samples, 'flowgate_refusals_total', { type: 'TrialThrottled', status: '429' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'flowgate_rate_limit_hits_total', { route: '/api/trial/register' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'flowgate_flow_refusals_total', { flow_kind: 'trial', update: 'requestVerificationEmail', type: 'TrialThrottled' })).toBeGreaterThanOrEqual(1);
  });

  it('counts an unknown path under one label, never the path itself', async () => {
    expect((await fetch(`${svc.baseUrl}/join/invitation/secret-token-in-path`)).status).toBeGreaterThanOrEqual(400);
    const page = await (await fetch(metricsUrl)).text();
    expect(page).not.toContain('secret-token-in-path');
    expect(total(parsePrometheus(page), 'flowgate_http_requests_total', { route: '/join/invitation/:token' }) + total(parsePrometheus(page), 'flowgate_http_requests_total', { route: '(no route)' })).toBeGreaterThanOrEqual(1);
  });

  it('answers only /metrics', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/'))).status).toBe(404);
  });

  it('has every series the Grafana dashboard charts (deploy/grafana/flowgate.json)', async () => {
    const root = path.resolve(__dirname, '..', '..');
    const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'deploy/grafana/flowgate.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
    const charted = new Set(dashboard.panels.flatMap((p) => p.targets ?? []).flatMap((t) => t.expr.match(/\b(?:flowgate|temporal)_[a-z_]+/g) ?? []));
    expect(charted.size).toBeGreaterThan(10);
    const page = await (await fetch(metricsUrl)).text();
    const onPage = new Set(parsePrometheus(page).map((s) => s.name).concat([...page.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1])));
    // Workflow-side counters reach the page with their first count (a flow that ended, say); their names are those the interceptor declares.
    const declared = fs.readFileSync(path.join(root, 'src/telemetry/workflowInterceptors.ts'), 'utf8');
    const workflowSide = new Set([...declared.matchAll(/createCounter\('([a-z_]+)'/g)].map((m) => `${m[1]}_total`));
    expect(workflowSide.size).toBe(4);
    expect([...charted].filter((name) => !onPage.has(name) && !workflowSide.has(name))).toEqual([]);
  });
});
