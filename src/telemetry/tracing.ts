import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/**
 * OpenTelemetry traces, exported over OTLP/HTTP when an endpoint is
 * configured (OTEL_EXPORTER_OTLP_ENDPOINT or ..._TRACES_ENDPOINT; the
 * exporter reads OTEL_EXPORTER_OTLP_HEADERS itself). One trace runs from the
 * HTTP request (src/telemetry/http.ts) through the update sent to Temporal,
 * the workflow's run and handlers, to the activities: Temporal's
 * interceptors carry the context in message headers. Without an endpoint,
 * nothing is recorded.
 */
let provider: BasicTracerProvider | undefined;
let processor: SpanProcessor = new NoopSpanProcessor();
const resource = new Resource({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME || 'flowgate' });

export function startTracing(settings: { tracesUrl?: string }): void {
  if (provider || !settings.tracesUrl) return;
  processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl }));
  provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Spans follow async calls (a request's span stays current through its awaits), and contexts cross processes as W3C traceparent.
  provider.register({ contextManager: new AsyncLocalStorageContextManager(), propagator: new W3CTraceContextPropagator() });
}

/**
 * Where the workflows' spans (recorded inside the workflow sandbox, handed
 * out through a sink) go: the exporter of the moment, so a worker created
 * before tracing started exports too.
 */
export function workflowSpanTarget(): { processor: SpanProcessor; resource: Resource } {
  const current: SpanProcessor = {
    onStart: (span, parent) => processor.onStart(span, parent),
    onEnd: (span) => processor.onEnd(span),
    forceFlush: () => processor.forceFlush(),
    shutdown: async () => undefined,
  };
  return { processor: current, resource };
}

/** Sends what is buffered (before a test reads its receiver; before the process exits). */
export async function flushTraces(): Promise<void> {
  await provider?.forceFlush();
}

export async function stopTracing(): Promise<void> {
  if (!provider) return;
  await provider.shutdown().catch(() => undefined);
  provider = undefined;
  processor = new NoopSpanProcessor();
  trace.disable();
  context.disable();
  propagation.disable();
}
