import fs from 'node:fs';
import http from 'node:http';
import { startService, TestService } from '../support/service';
import { uniqueEmail, waitForEmail } from '../support/mailbox';
import { freePort } from '../support/ports';
import { close } from '../../src/shutdown';
import { tracedBundleFile } from '../../src/bundle';
import { flushTraces, startTracing, stopTracing } from '../../src/telemetry/tracing';

/** A span as OTLP/JSON carries it. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** An OTLP/HTTP receiver in the test: keeps every span posted to /v1/traces (JSON, as the service's exporter sends it). */
function otlpReceiver(): { server: http.Server; spans: OtlpSpan[]; requests: string[] } {
  const spans: OtlpSpan[] = [];
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const resource of payload.resourceSpans) for (const scope of resource.scopeSpans) spans.push(...scope.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return { server, spans, requests };
}

const SERVER = 2; // OTLP's SPAN_KIND_SERVER

let svc: TestService;
const receiver = otlpReceiver();

beforeAll(async () => {
  const port = await freePort();
  await new Promise<void>((resolve) => receiver.server.listen(port, '127.0.0.1', resolve));
  const tracesUrl = `http://127.0.0.1:${port}/v1/traces`;
  startTracing({ tracesUrl });
  // The worker runs the traced bundle where traces are exported.
  svc = await startService({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: tracesUrl });
});
afterAll(async () => {
  await svc?.stop();
  await stopTracing();
  await close(receiver.server);
});

/** Flushes the service's spans until the receiver holds a trace with all of `names`; that trace's spans. */
async function traceWith(names: string[], timeoutMs = 20_000): Promise<OtlpSpan[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await flushTraces();
    const byTrace = new Map<string, OtlpSpan[]>();
    for (const span of receiver.spans) byTrace.set(span.traceId, [...(byTrace.get(span.traceId) ?? []), span]);
    const found = [...byTrace.values()].find((spans) => names.every((n) => spans.some((s) => s.name === n)));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no trace with ${names.join(', ')}; spans received: ${receiver.spans.map((s) => s.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('tracing', () => {
  it('follows one registration from the HTTP request through the update and the workflow to the mail activity, in one trace', async () => {
    const email = uniqueEmail('traced');
    const res = await fetch(`${svc.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
    expect(res.status).toBe(202);
    await waitForEmail(email, /Verify your email/);

    const spans = await traceWith(['POST /api/trial/register', 'UpdateWithStartWorkflow:requestVerificationEmail', 'HandleUpdate:requestVerificationEmail', 'StartActivity:sendVerificationEmail', 'RunActivity:sendVerificationEmail']);
    const named = (name: string) => spans.find((s) => s.name === name)!;
    const request = named('POST /api/trial/register');
    const update = named('UpdateWithStartWorkflow:requestVerificationEmail');
    const activity = named('RunActivity:sendVerificationEmail');
    const scheduled = named('StartActivity:sendVerificationEmail');

    // The request is the root; the update is its child; the activity runs under the workflow's scheduling of it.
    expect(request.kind).toBe(SERVER);
    expect(request.parentSpanId ?? '').toBe('');
    expect(update.parentSpanId).toBe(request.spanId);
    expect(activity.parentSpanId).toBe(scheduled.spanId);
    const attributes = Object.fromEntries(request.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
    expect(attributes).toMatchObject({ 'http.route': '/api/trial/register', 'http.response.status_code': 202 });
    // The workflow's spans name the run, and carry none of its memo or search attributes (they can hold personal data).
    const handled = Object.fromEntries(named('HandleUpdate:requestVerificationEmail').attributes.map((a) => [a.key, Object.values(a.value)[0]]));
    expect(handled).toMatchObject({ workflowType: 'trialWorkflow', flowKind: 'trial', runId: expect.any(String) });
    expect(Object.keys(handled).filter((k) => /searchAttributes|memo|lastResult/.test(k))).toEqual([]);
    expect(receiver.requests.every((r) => r.startsWith('POST /v1/traces application/json'))).toBe(true);
  });

  it('continues a caller\'s trace (W3C traceparent) instead of starting one', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`${svc.baseUrl}/readyz`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(res.status).toBeLessThan(500);
    const [span] = await traceWith(['GET /readyz']);
    expect(span.traceId).toBe(traceId);
    expect(span.parentSpanId).toBe('00f067aa0ba902b7');
  });
});

describe('the workflow bundles', () => {
  // The suite's global setup wrote both, as `npm run build` does.
  const plain = fs.readFileSync(process.env.WORKFLOW_BUNDLE!, 'utf8');
  const traced = fs.readFileSync(tracedBundleFile(process.env.WORKFLOW_BUNDLE!), 'utf8');
  const openTelemetryModules = (code: string) => code.match(/"\.\/node_modules\/@(opentelemetry|temporalio\/interceptors-opentelemetry)\/[^"]+"/g) ?? [];

  it('leave OpenTelemetry out of the plain bundle, which a worker exporting no traces runs', () => {
    expect(openTelemetryModules(plain)).toEqual([]);
    expect(openTelemetryModules(traced).length).toBeGreaterThan(10);
    // Both carry the flows' metrics.
    for (const code of [plain, traced]) expect(code).toContain('flowgate_flows_started');
  });
});
