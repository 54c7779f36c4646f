/**
 * Workflow interceptors (bundled with the workflow code, see src/bundle.ts):
 * the flows' own metrics and the flow kind on every workflow log line. Spans
 * are in ./workflowTracingInterceptors.ts, bundled only where traces are
 * exported: OpenTelemetry inside the sandbox costs every cached workflow
 * memory and every workflow task CPU.
 * Metrics go through the workflow's metric meter, which records nothing
 * while a history is replayed, so a restarted worker counts nothing twice;
 * the SDK adds namespace, task_queue and workflow_type to each of them.
 */
import {
  ApplicationFailure,
  ContinueAsNew,
  isCancellation,
  log,
  metricMeter,
  workflowInfo,
  type Next,
  type SignalInput,
  type UpdateInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
  type GetLogAttributesInput,
} from '@temporalio/workflow';
import { answerReachesStage, flowKindOf, FUNNEL, outcomeOf } from './flows';

const flowsStarted = metricMeter.createCounter('flowgate_flows_started', '1', 'Flows started, by kind (a run continued as new is the same flow)');
const flowsEnded = metricMeter.createCounter('flowgate_flows_ended', '1', 'Flows ended, by kind and outcome');
const stagesReached = metricMeter.createCounter('flowgate_flow_stage_reached', '1', 'Flows that reached a stage of their funnel, by kind and stage');
const refusals = metricMeter.createCounter('flowgate_flow_refusals', '1', 'Updates a flow refused, by kind, update and failure type');

/**
 * Watches a handler's promise and hands back the same promise: the handler
 * completes in the very microtask it did without interceptors, so commands
 * keep their order and histories recorded before these metrics still replay.
 */
function observed<T>(promise: Promise<T>, onValue: (value: T) => unknown, onError: (err: unknown) => unknown): Promise<T> {
  promise.then(onValue, onError);
  return promise;
}

class FlowMetrics implements WorkflowInboundCallsInterceptor {
  private readonly kind = flowKindOf(workflowInfo().workflowType);
  /** Stages reached in this run: a repeated update (a reloaded page) is one person reaching it once. */
  private readonly reached = new Set<string>();

  execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const kind = this.kind;
    if (!workflowInfo().continuedFromExecutionRunId) {
      flowsStarted.add(1, { flow_kind: kind });
      stagesReached.add(1, { flow_kind: kind, stage: 'started' });
    }
    return observed(next(input), (result) => {
      const outcome = outcomeOf(result);
      flowsEnded.add(1, { flow_kind: kind, outcome });
      log.info('flow ended', { outcome });
    }, (err) => {
      if (err instanceof ContinueAsNew) return;
      const outcome = isCancellation(err) ? 'cancelled' : 'failed';
      flowsEnded.add(1, { flow_kind: kind, outcome });
      log.warn('flow ended', { outcome });
    });
  }

  handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    return observed(next(input), (answer) => answerReachesStage(answer) && this.reach(input.name), (err) => this.refused(input.name, err));
  }

  validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>): void {
    try {
      next(input);
    } catch (err) {
      this.refused(input.name, err);
      throw err;
    }
  }

  handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    return observed(next(input), () => this.reach(input.signalName), () => undefined);
  }

  private reach(message: string): void {
    const stage = FUNNEL[this.kind]?.[message];
    if (!stage || this.reached.has(stage)) return;
    this.reached.add(stage);
    stagesReached.add(1, { flow_kind: this.kind, stage });
  }

  private refused(update: string, err: unknown): void {
    if (err instanceof ApplicationFailure && err.type) refusals.add(1, { flow_kind: this.kind, update, type: err.type });
  }
}

/** Every workflow log line names the flow's kind beside the workflow ID and run ID the SDK adds. */
class FlowLogAttributes implements WorkflowOutboundCallsInterceptor {
  getLogAttributes(input: GetLogAttributesInput, next: Next<WorkflowOutboundCallsInterceptor, 'getLogAttributes'>): Record<string, unknown> {
    return next({ ...input, flowKind: flowKindOf(workflowInfo().workflowType) });
  }
}

export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new FlowMetrics()],
  outbound: [new FlowLogAttributes()],
});
