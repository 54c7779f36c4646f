import type { Middleware } from 'koa';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { FlowRefusal } from '../api/http';
import { logContext } from '../shared/log';
import { httpDuration, httpRequests, rateLimitHits, refusals } from './metrics';

const tracer = trace.getTracer('flowgate-api');

/** The route template (`/join/invitation/:token`), never the path: a path can hold a link's secret. */
function routeOf(ctx: { _matchedRoute?: unknown }): string {
  return typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : '(no route)';
}

/**
 * The first middleware: each request is a server span (continuing a caller's
 * W3C traceparent), current while the request runs so the Temporal calls it
 * makes carry it on; and it is counted by route template and status.
 */
export function observeRequests(): Middleware {
  return async (ctx, next) => {
    const parent = propagation.extract(context.active(), ctx.headers);
    const span = tracer.startSpan(ctx.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method } }, parent);
    const traceId = span.spanContext().traceId;
    const started = process.hrtime.bigint();
    try {
      await context.with(trace.setSpan(parent, span), () => (span.isRecording() ? logContext.run({ traceId }, next) : next()));
    } finally {
      const route = routeOf(ctx as { _matchedRoute?: unknown });
      const status = ctx.status;
      span.updateName(`${ctx.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      httpRequests.inc({ method: ctx.method, route, status: String(status) });
      httpDuration.observe({ method: ctx.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
      if (status === 429) rateLimitHits.inc({ route });
    }
  };
}

/** Inside the error handler: a flow's refusal, counted by its failure type on its way to becoming an answer. */
export const countRefusals: Middleware = async (_ctx, next) => {
  try {
    await next();
  } catch (err) {
    if (err instanceof FlowRefusal) refusals.inc({ type: err.failure.type, status: String(err.status) });
    throw err;
  }
};
