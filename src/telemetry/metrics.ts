import http from 'node:http';
import net from 'node:net';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ConfigError } from '../config';

/**
 * The process's metrics, served in Prometheus' text format on
 * METRICS_ADDRESS: the service's own counters (below), Node's process
 * metrics, and in a worker the Temporal SDK runtime's (its Prometheus
 * exporter listens on a loopback port of its own; its page is appended, so
 * each process is one scrape target). Workflow-side counters come through
 * the SDK runtime too (src/telemetry/workflowInterceptors.ts).
 *
 * Labels are templates and kinds, never paths or addresses: a path can hold
 * a link's secret, and addresses are personal data.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** A counter of the registry: its name, what it counts, and the labels it counts by. */
function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** A histogram of the registry, in seconds: its name, what it times, its labels and buckets. */
function histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const httpRequests = counter('flowgate_http_requests_total', 'HTTP requests answered, by method, route template and status', ['method', 'route', 'status']);
export const httpDuration = histogram('flowgate_http_request_duration_seconds', 'Time to answer an HTTP request, by method and route template', ['method', 'route'], REQUEST_BUCKETS);
export const refusals = counter('flowgate_refusals_total', "Requests a flow refused (its failure table's entry), by failure type and HTTP status", ['type', 'status']);
export const rateLimitHits = counter('flowgate_rate_limit_hits_total', 'Requests answered 429 (a sign-in back-off, a daily cap on mails), by route template', ['route']);
export const mailsSent = counter('flowgate_mails_sent_total', 'Mails the SMTP server accepted, by kind', ['kind']);
export const mailsFailed = counter('flowgate_mails_failed_total', 'Mails the SMTP server did not take (the activity retries them), by kind', ['kind']);
export const stepDuration = histogram('flowgate_step_duration_seconds', "Time of one attempt at a flow's step (an activity), by flow kind, step and outcome", ['flow_kind', 'step', 'outcome'], [...REQUEST_BUCKETS, 30]);

/** Where the SDK runtime's own exporter answers, once a worker has installed it. */
let runtimeMetricsUrl: string | undefined;

export function setRuntimeMetricsUrl(url: string): void {
  runtimeMetricsUrl = url;
}

/** The whole page: the service's metrics, then the SDK runtime's. */
export async function metricsPage(): Promise<string> {
  const own = await registry.metrics();
  if (!runtimeMetricsUrl) return own;
  try {
    const res = await fetch(runtimeMetricsUrl, { signal: AbortSignal.timeout(5000) });
    return own + '\n' + (await res.text());
  } catch {
    // The runtime's page is missing from this scrape, and `up` stays 1 for the service's own.
    return own;
  }
}

/** METRICS_ADDRESS parsed: `host:port` or a port alone (on 127.0.0.1), or `off`. */
export interface MetricsAddress {
  host: string;
  port: number;
}

/** Serves the page at /metrics; a port in use is a configuration error naming METRICS_ADDRESS. */
export function serveMetrics(address: MetricsAddress): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at /metrics\n');
      return;
    }
    metricsPage().then(
      (page) => res.writeHead(200, { 'content-type': registry.contentType }).end(page),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new ConfigError('METRICS_ADDRESS', `${address.host}:${address.port} is already in use`) : err),
    );
    server.listen(address.port, address.host, () => resolve(server));
  });
}

/** A free loopback port, for the SDK runtime's exporter (which takes an address, not a listening socket). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
