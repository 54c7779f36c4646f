import type { Context as ActivityContext } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, InjectedSinks, Next, WorkerInterceptors } from '@temporalio/worker';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import { logContext } from '../shared/log';
import { flowKindOf } from './flows';
import { stepDuration } from './metrics';
import { workflowSpanTarget } from './tracing';

/** Each attempt at a step: timed by flow kind, step and outcome, and its log lines carry the flow's identity. */
class StepObserver implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: ActivityContext) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { info } = this.ctx;
    const flowKind = flowKindOf(info.workflowType ?? '');
    const started = process.hrtime.bigint();
    let outcome = 'failed';
    try {
      const result = await logContext.run({ workflowId: info.workflowExecution?.workflowId ?? '', runId: info.workflowExecution?.runId ?? '', flowKind, activityType: info.activityType }, () => next(input));
      outcome = 'completed';
      return result;
    } finally {
      stepDuration.observe({ flow_kind: flowKind, step: info.activityType, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }
}

/** The worker's interceptors: OpenTelemetry's spans around activities, the step metrics, the flow kind on activity log lines. */
export function workerInterceptors(): WorkerInterceptors {
  return {
    client: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    activity: [
      (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
      (ctx) => ({
        inbound: new StepObserver(ctx),
        outbound: {
          // Named as on workflow lines (runId beside the SDK's workflowRunId); the task token is a credential for the activity, not for logs.
          getLogAttributes: (attrs, next) => {
            const { taskToken: _taskToken, ...rest } = attrs;
            return next({ ...rest, runId: ctx.info.workflowExecution?.runId, flowKind: flowKindOf(ctx.info.workflowType ?? '') });
          },
        },
      }),
    ],
  };
}

/** What a workflow span says about its run; the SDK would attach the whole WorkflowInfo (memo, search attributes, last result). */
const SPAN_RUN_FIELDS = ['workflowId', 'runId', 'workflowType', 'namespace', 'taskQueue', 'attempt'] as const;

/** The sink the workflows' spans leave the sandbox through. */
export function workerSinks(): InjectedSinks<OpenTelemetrySinks> {
  const { processor, resource } = workflowSpanTarget();
  const exporter = makeWorkflowExporter(processor, resource);
  return {
    exporter: {
      export: {
        ...exporter.export,
        fn: (info, spans) => {
          const run = Object.fromEntries(SPAN_RUN_FIELDS.map((field) => [field, info[field]]));
          exporter.export.fn({ ...run, flowKind: flowKindOf(info.workflowType) } as unknown as typeof info, spans);
        },
      },
    },
  };
}
