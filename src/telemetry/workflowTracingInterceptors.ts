/**
 * The workflow interceptors that record spans (./workflowTracing.ts), bundled
 * ahead of ./workflowInterceptors.ts in the traced bundle (src/bundle.ts), so
 * a handler's span encloses its metrics as before.
 */
import type { WorkflowInterceptors } from '@temporalio/workflow';
import { OpenTelemetryInternalsInterceptor } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { TracingInbound, TracingOutbound } from './workflowTracing';

export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new TracingInbound()],
  outbound: [new TracingOutbound()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
