import crypto from 'node:crypto';
import { Client, WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, QueryDefinition, SearchAttributePair, UpdateDefinition, WorkflowIdConflictPolicy, WorkflowNotFoundError } from '@temporalio/common';
import type { Config } from '../config';
import { FailureTable, FlowEnding, FlowFailure } from '../shared/failures';
import { FlowRefusal, HttpError } from './http';



/**
 * The one way the API reaches a workflow. A request that may create its
 * flow sends its update with the start (Update-with-Start: a running flow
 * with that ID gets the update, otherwise a new run starts with it); any
 * other request sends a plain update. Either way:
 *
 * - a refusal from the flow's failure table becomes its HTTP answer;
 * - a run that is finishing is waited for: a start then starts a new run, a
 *   plain update is answered as for a closed flow;
 * - the call has a deadline (UPDATE_DEADLINE): past it the person is told to
 *   try again in a moment, while the update goes on;
 * - a request with a business key (a link's token hash, an invitation and
 *   account) is the same update however often it is retried, so a reload
 *   after a lost answer gets the first answer instead of a second action
 *   (see `keyed`).
 *
 * Reading a flow goes through here too (`queryFlow`, `flowRunning`,
 * `flowClosed`), with the same deadline.
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
  /** The Web UI's one-line summary and Markdown details of the flow, fixed at its start. */
  description?: { summary: string; details: string };
  /** The update's business key (see above); requests without one (each asks for a new mail) are new updates. */
  updateKey?: string;
}

/** How long a request waits for a finishing run to close before it answers "try again". */
const ENDING_RUN_CLOSES_WITHIN_MS = 20_000;
/** Suffixes of one business key an update may take (each earlier one ended in a failure). */
const KEYED_ATTEMPTS = 8;

export async function startOrUpdate<Ret, Args extends unknown[]>(deps: FlowDeps, failures: FailureTable, start: FlowStart, update: UpdateDefinition<Ret, Args>, ...args: Args): Promise<Ret> {
  const send = (updateId?: string) =>
    deps.temporal.workflow.executeUpdateWithStart(update, {
      args,
      ...(updateId ? { updateId } : {}),
      startWorkflowOperation: new WithStartWorkflowOperation(start.workflowType, {
        workflowId: start.workflowId,
        taskQueue: deps.config.temporal.taskQueue,
        args: start.args,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        typedSearchAttributes: start.searchAttributes,
        ...(start.description ? { staticSummary: start.description.summary, staticDetails: start.description.details } : {}),
      }),
    }) as Promise<Ret>;
  try {
    return await keyed(deps, failures, start.workflowId, start.updateKey, send);
  } catch (err) {
    if (!(err instanceof FlowRefusal && err.is(FlowEnding))) throw err;
    // The run with this ID is finishing: once it has closed, the same request starts a new one.
    await closed(deps, start.workflowId);
    return keyed(deps, failures, start.workflowId, start.updateKey, send);
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
  /** The update's business key (see above). */
  updateKey?: string,
): Promise<Ret> {
  // The SDK's overloads tell no-argument updates from the others; this one call serves both.
  const handle = deps.temporal.workflow.getHandle(workflowId) as { executeUpdate(def: UpdateDefinition<Ret, Args>, options: { args: Args; updateId?: string }): Promise<Ret> };
  const send = (updateId?: string) => handle.executeUpdate(update, { args, ...(updateId ? { updateId } : {}) });
  for (let continued = false; ; continued = true) {
    try {
      return await keyed(deps, failures, workflowId, updateKey, send);
    } catch (err) {
      if (err instanceof FlowRefusal && err.is(FlowEnding)) {
        await closed(deps, workflowId);
        throw await whenEnded();
      }
      // The SDK reports both a completed and an unknown workflow as WorkflowNotFoundError. Once
      // more, though: a run that has just continued as new answers in its next run.
      if (err instanceof WorkflowNotFoundError && !continued) continue;
      if (err instanceof WorkflowNotFoundError) throw await whenEnded();
      throw err;
    }
  }
}

/** A business key of secret material (a token, a link's key): only its hash ends up in the update ID. */
export function keyOf(kind: string, ...parts: (string | number)[]): string {
  return `${kind}/${crypto.createHash('sha256').update(parts.join('\0')).digest('base64url').slice(0, 32)}`;
}

/**
 * Sends the update under its key. Temporal keeps the outcome of each update
 * ID: a success under the key is the answer a retry gets (the action happened
 * once). A failure under it was the answer then, but may not be now (the
 * database was down, an address was taken), so the request goes on to the
 * next suffix of the key, until one that has no outcome yet: that one is sent.
 */
async function keyed<T>(deps: FlowDeps, failures: FailureTable, workflowId: string, key: string | undefined, send: (updateId?: string) => Promise<T>): Promise<T> {
  if (!key) return withinDeadline(deps, () => answered(failures, () => send()));
  // The key is sent at once: Temporal answers an update ID it knows with that update's outcome, so
  // a success (this one's or an earlier one's) costs one call. Only a failure needs the key's history:
  // unknown under the key, it was this call's refusal by the validator; kept under it, it may be an
  // earlier request's, so the next suffix is tried (at worst this request's refusal comes twice).
  let lastFailure: unknown;
  try {
    return await withinDeadline(deps, () => send(key));
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) return answered(failures, () => Promise.reject(err));
    const kept = await withinDeadline(deps, () => outcomeOf<T>(deps, workflowId, key));
    if (kept.state === 'none') return answered(failures, () => Promise.reject(err));
    if (kept.state === 'succeeded') return kept.value;
    lastFailure = kept.error;
  }
  for (let attempt = 1; attempt < KEYED_ATTEMPTS; attempt++) {
    const updateId = attempt ? `${key}#${attempt}` : key;
    const earlier = await withinDeadline(deps, () => outcomeOf<T>(deps, workflowId, updateId));
    if (earlier.state === 'none') return withinDeadline(deps, () => answered(failures, () => send(updateId)));
    if (earlier.state === 'succeeded') return earlier.value;
    lastFailure = earlier.error;
  }
  return answered(failures, () => Promise.reject(lastFailure));
}

/** What an update ID already stands for in the flow's current run: nothing yet, a success, or a failure (waits while it runs). */
async function outcomeOf<T>(deps: FlowDeps, workflowId: string, updateId: string): Promise<{ state: 'none' } | { state: 'succeeded'; value: T } | { state: 'failed'; error: unknown }> {
  try {
    return { state: 'succeeded', value: (await deps.temporal.workflow.getHandle(workflowId).getUpdateHandle<T>(updateId).result()) as T };
  } catch (err) {
    // No such update (or no such flow yet): the key is free.
    if (err instanceof WorkflowNotFoundError) return { state: 'none' };
    if (err instanceof WorkflowUpdateFailedError) return { state: 'failed', error: err };
    throw err;
  }
}

/** The call within UPDATE_DEADLINE; past it, "try again" (the update itself goes on, and a retry with its key gets its answer). */
async function withinDeadline<T>(deps: FlowDeps, call: () => Promise<T>): Promise<T> {
  try {
    return await deps.temporal.connection.withDeadline(Date.now() + deps.config.updateDeadlineMs, call);
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isDeadlineExceeded(err)) {
      throw new HttpError(503, 'This is taking longer than it should; please try again in a moment.', { code: 'try_again', retryAfterSeconds: 5 }, 'Please try again in a moment');
    }
    throw err;
  }
}

function isDeadlineExceeded(err: unknown): boolean {
  for (let e = err as { code?: number; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.code === 4) return true;
  return false;
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
    if (err instanceof WorkflowUpdateFailedError) {
      // A mail the mail server would not take: a minute is how long such an outage usually lasts.
      if (err.cause instanceof ActivityFailure && /^send\w*Email$/.test(err.cause.activityType)) {
        throw new HttpError(503, 'The email could not be sent just now; please try again in a minute.', { code: 'try_again', retryAfterSeconds: 60 }, 'Email not sent');
      }
      throw new HttpError(503, 'This could not be completed right now; please try again in a moment.', { code: 'try_again', retryAfterSeconds: 5 });
    }
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
  if (!(await flowClosed(deps, workflowId, ENDING_RUN_CLOSES_WITHIN_MS))) {
    throw new HttpError(503, 'This request is still being processed; try again in a moment.', { code: 'try_again', retryAfterSeconds: 5 });
  }
}

/*
 * Reading a flow without changing it: none of these adds to its history.
 */

/** Waits at most `withinMs` for the flow's current run to close (or continue as new); true once it has, or when there is none. */
export async function flowClosed(deps: FlowDeps, workflowId: string, withinMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'gave up'>((resolve) => (timer = setTimeout(() => resolve('gave up'), withinMs)));
  // Only this run: a run that continued as new has closed too.
  const run = deps.temporal.workflow.getHandle(workflowId, undefined, { followRuns: false });
  const outcome = await Promise.race([run.result().then(() => 'closed', () => 'closed'), gaveUp]).finally(() => clearTimeout(timer));
  return outcome === 'closed';
}

/** Whether the flow's latest run is still running: false once it has closed, or when there is none. Within UPDATE_DEADLINE. */
export async function flowRunning(deps: FlowDeps, workflowId: string): Promise<boolean> {
  try {
    const { status } = await withinDeadline(deps, () => deps.temporal.workflow.getHandle(workflowId).describe());
    return status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * What the flow's query answers within `withinMs` (UPDATE_DEADLINE unless the
 * page says how long it waits), for what only fills a page in: undefined
 * when the flow cannot say in time (it has closed or never started, its
 * worker is away, its run predates the query).
 */
export async function queryFlow<Ret, Args extends unknown[]>(deps: FlowDeps, workflowId: string, query: QueryDefinition<Ret, Args>, args: Args, withinMs = deps.config.updateDeadlineMs): Promise<Ret | undefined> {
  // The SDK's overloads tell no-argument queries from the others; this one call serves both.
  const handle = deps.temporal.workflow.getHandle(workflowId) as { query(def: QueryDefinition<Ret, Args>, ...args: Args): Promise<Ret> };
  if (withinMs <= 0) return undefined;
  try {
    return await deps.temporal.connection.withDeadline(Date.now() + withinMs, () => handle.query(query, ...args));
  } catch {
    return undefined;
  }
}
