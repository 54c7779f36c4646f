/**
 * OpenTelemetry spans inside workflows: OpenTelemetry's own interceptors
 * (@temporalio/interceptors-opentelemetry), with every method that completes
 * a handler or an activity made to hand back the very promise it was given.
 * Theirs wrap those promises in async functions, which resolves them some
 * microtasks later: an update then completes after a command it used to
 * precede, and runs recorded before tracing no longer replay.
 */
import * as otel from '@opentelemetry/api';
import { ContinueAsNew, workflowInfo, type ActivityInput, type LocalActivityInput, type Next, type SignalInput, type SignalWorkflowInput, type UpdateInput, type WorkflowExecuteInput, type WorkflowInboundCallsInterceptor, type WorkflowOutboundCallsInterceptor } from '@temporalio/workflow';
import { OpenTelemetryInboundInterceptor, OpenTelemetryOutboundInterceptor } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { extractContextFromHeaders, headersWithContext, UPDATE_ID_ATTR_KEY } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';

/** Runs `fn` in a new span, current for everything it starts, ended when its promise settles; returns that same promise. */
function spanned<T>(tracer: otel.Tracer, name: string, parent: otel.Context | undefined, fn: () => Promise<T>, attributes: otel.Attributes = {}): Promise<T> {
  const context = parent ?? otel.context.active();
  const span = tracer.startSpan(name, { attributes }, context);
  let promise: Promise<T>;
  try {
    promise = otel.context.with(otel.trace.setSpan(context, span), fn);
  } catch (err) {
    failed(span, err);
    throw err;
  }
  promise.then(
    () => span.end(),
    (err) => failed(span, err),
  );
  return promise;
}

function failed(span: otel.Span, err: unknown): void {
  if (!(err instanceof ContinueAsNew)) {
    span.recordException(err as Error);
    span.setStatus({ code: otel.SpanStatusCode.ERROR, message: (err as Error)?.message });
  }
  span.end();
}

export class TracingInbound extends OpenTelemetryInboundInterceptor {
  override execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    return spanned(this.tracer, `RunWorkflow:${workflowInfo().workflowType}`, extractContextFromHeaders(input.headers), () => next(input));
  }

  override handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    return spanned(this.tracer, `HandleSignal:${input.signalName}`, extractContextFromHeaders(input.headers), () => next(input));
  }

  override handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    return spanned(this.tracer, `HandleUpdate:${input.name}`, extractContextFromHeaders(input.headers), () => next(input), { [UPDATE_ID_ATTR_KEY]: input.updateId });
  }
}

export class TracingOutbound extends OpenTelemetryOutboundInterceptor {
  override scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>): Promise<unknown> {
    return spanned(this.tracer, `StartActivity:${input.activityType}`, undefined, () => next({ ...input, headers: headersWithContext(input.headers) }));
  }

  override scheduleLocalActivity(input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>): Promise<unknown> {
    return spanned(this.tracer, `StartActivity:${input.activityType}`, undefined, () => next({ ...input, headers: headersWithContext(input.headers) }));
  }

  override signalWorkflow(input: SignalWorkflowInput, next: Next<WorkflowOutboundCallsInterceptor, 'signalWorkflow'>): Promise<void> {
    return spanned(this.tracer, `SignalWorkflow:${input.signalName}`, undefined, () => next({ ...input, headers: headersWithContext(input.headers) }));
  }
}
