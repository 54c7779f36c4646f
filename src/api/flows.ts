import { Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, SearchAttributePair, UpdateDefinition, WorkflowIdConflictPolicy, WorkflowNotFoundError } from '@temporalio/common';
import type { Config } from '../config';
import { FailureTable, FlowEnding, FlowFailure } from '../shared/failures';
import { FlowRefusal, HttpError } from './http';

/**
 * The one way the API reaches a workflow. A request that may create its
 * flow sends its update with the start (Update-with-Start: a running flow
 * with that ID gets the update, otherwise a new run starts with it); any
 * other request sends a plain update. Either way a refusal from the flow's
 * failure table becomes its HTTP answer, and a run that is finishing is
 * waited for: a start then starts a new run, a plain update is answered as
 * for a closed flow.
 */
export interface FlowDeps {
  temporal: Client;
  config: Config;
}

export interface FlowStart {
  workflowType: string;
  workflowId: string;
  args: unknown[];
  searchAttributes: SearchAttributePair[];
}

/** How long a request waits for a finishing run to close before it answers "try again". */
const ENDING_RUN_CLOSES_WITHIN_MS = 20_000;

export async function startOrUpdate<Ret, Args extends unknown[]>(deps: FlowDeps, failures: FailureTable, start: FlowStart, update: UpdateDefinition<Ret, Args>, ...args: Args): Promise<Ret> {
  const send = () =>
    deps.temporal.workflow.executeUpdateWithStart(update, {
      args,
      startWorkflowOperation: new WithStartWorkflowOperation(start.workflowType, {
        workflowId: start.workflowId,
        taskQueue: deps.config.temporal.taskQueue,
        args: start.args,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        typedSearchAttributes: start.searchAttributes,
      }),
    }) as Promise<Ret>;
  try {
    return await answered(failures, send);
  } catch (err) {
    if (!(err instanceof FlowRefusal && err.is(FlowEnding))) throw err;
    // The run with this ID is finishing: once it has closed, the same request starts a new one.
    await closed(deps, start.workflowId);
    return answered(failures, send);
  }
}

export async function updateFlow<Ret, Args extends unknown[]>(
  deps: FlowDeps,
  failures: FailureTable,
  workflowId: string,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  /** The answer when the flow has closed (or never existed): usually read from its records. */
  whenEnded: () => Promise<Error> | Error,
): Promise<Ret> {
  try {
    // The SDK's overloads tell no-argument updates from the others; this one call serves both.
    const handle = deps.temporal.workflow.getHandle(workflowId) as { executeUpdate(def: UpdateDefinition<Ret, Args>, options: { args: Args }): Promise<Ret> };
    return await answered(failures, () => handle.executeUpdate(update, { args }));
  } catch (err) {
    if (err instanceof FlowRefusal && err.is(FlowEnding)) {
      await closed(deps, workflowId);
      throw await whenEnded();
    }
    // The SDK reports both a completed and an unknown workflow as WorkflowNotFoundError.
    if (err instanceof WorkflowNotFoundError) throw await whenEnded();
    throw err;
  }
}

/**
 * The flow's answer, or its refusal as the failure table says. An update
 * that failed otherwise (its steps ran out of retries: the database or mail
 * server is down) is "try again", never an internal error.
 */
async function answered<T>(failures: FailureTable, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const failure = refusalIn(err, failures);
    if (failure) throw new FlowRefusal(failure.entry, failure.message);
    if (err instanceof WorkflowUpdateFailedError) throw new HttpError(503, 'This could not be completed right now; please try again in a moment.', { retryAfterSeconds: 5 });
    throw err;
  }
}

/** The first ApplicationFailure in the error's cause chain whose type the table (or FlowEnding) names. */
function refusalIn(err: unknown, failures: FailureTable): { entry: FlowFailure; message: string } | undefined {
  const known = [FlowEnding, ...Object.values(failures)];
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof ApplicationFailure && e.type) {
      const entry = known.find((f) => f.type === e.type);
      if (entry) return { entry, message: e.message };
    }
  }
  return undefined;
}

/** Waits (bounded) for a run that refused as finishing to close. */
async function closed(deps: FlowDeps, workflowId: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'gave up'>((resolve) => (timer = setTimeout(() => resolve('gave up'), ENDING_RUN_CLOSES_WITHIN_MS)));
  const outcome = await Promise.race([deps.temporal.workflow.getHandle(workflowId).result().then(() => 'closed', () => 'closed'), gaveUp]).finally(() => clearTimeout(timer));
  if (outcome === 'gave up') throw new HttpError(503, 'This request is still being processed; try again in a moment.', { retryAfterSeconds: 5 });
}
