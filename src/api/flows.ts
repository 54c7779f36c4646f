import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';
import type { Middleware } from 'koa';
import { Client, WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, QueryDefinition, SearchAttributePair, UpdateDefinition, WorkflowIdConflictPolicy, WorkflowNotFoundError } from '@temporalio/common';
import type { Config } from '../config';
import { FailureTable, FlowEnding, FlowFailure } from '../shared/failures';
import { FlowRefusal, HttpError, tryAgainInAMoment } from './http';

/**
 * The one way the API reaches a workflow. A request that may create its
 * flow sends its update with the start (Update-with-Start: a running flow
 * with that ID gets the update, otherwise a new run starts with it); any
 * other request sends a plain update. Either way:
 *
 * - a refusal from the flow's failure table becomes its HTTP answer;
 * - a run that is finishing is waited for: a start then starts a new run, a
 *   plain update is answered as for a closed flow;
 * - the request has one deadline (UPDATE_DEADLINE from its arrival, see
 *   `requestDeadline`), shared by every call and wait it makes: past it the
 *   person is told to try again in a moment, while the update goes on;
 * - a request with a business key (a link's token hash, an invitation and
 *   account) is the same update however often it is retried, so a reload
 *   after a lost answer gets the first answer instead of a second action
 *   (see `keyed`).
 *
 * Reading a flow goes through here too (`queryFlow`, `flowRunning`,
 * `flowClosed`), by the same deadline.
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
  const deadline = deadlineOf(deps);
  try {
    return await keyed(deps, deadline, failures, start.workflowId, start.updateKey, send);
  } catch (err) {
    if (!(err instanceof FlowRefusal && err.is(FlowEnding))) throw err;
    // The run with this ID is finishing: once it has closed, the same request starts a new one.
    await closed(deps, deadline, start.workflowId);
    return keyed(deps, deadline, failures, start.workflowId, start.updateKey, send);
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
  const deadline = deadlineOf(deps);
  const ended = () => by(deadline, Promise.resolve().then(whenEnded));
  for (let continued = false; ; continued = true) {
    try {
      return await keyed(deps, deadline, failures, workflowId, updateKey, send);
    } catch (err) {
      if (err instanceof FlowRefusal && err.is(FlowEnding)) {
        await closed(deps, deadline, workflowId);
        throw await ended();
      }
      // The SDK reports both a completed and an unknown workflow as WorkflowNotFoundError. Once
      // more, though: a run that has just continued as new answers in its next run.
      if (err instanceof WorkflowNotFoundError && !continued) continue;
      if (err instanceof WorkflowNotFoundError) throw await ended();
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
async function keyed<T>(deps: FlowDeps, deadline: number, failures: FailureTable, workflowId: string, key: string | undefined, send: (updateId?: string) => Promise<T>): Promise<T> {
  if (!key) return withinDeadline(deps, deadline, () => answered(failures, () => send()));
  // The key is sent at once: Temporal answers an update ID it knows with that update's outcome, so
  // a success (this one's or an earlier one's) costs one call. Only a failure needs the key's history:
  // unknown under the key, it was this call's refusal by the validator; kept under it, it may be an
  // earlier request's, so the next suffix is tried (at worst this request's refusal comes twice).
  let lastFailure: unknown;
  try {
    return await withinDeadline(deps, deadline, () => send(key));
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) return answered(failures, () => Promise.reject(err));
    const kept = await withinDeadline(deps, deadline, () => outcomeOf<T>(deps, workflowId, key));
    if (kept.state === 'none') return answered(failures, () => Promise.reject(err));
    if (kept.state === 'succeeded') return kept.value;
    lastFailure = kept.error;
  }
  for (let attempt = 1; attempt < KEYED_ATTEMPTS; attempt++) {
    const updateId = attempt ? `${key}#${attempt}` : key;
    const earlier = await withinDeadline(deps, deadline, () => outcomeOf<T>(deps, workflowId, updateId));
    if (earlier.state === 'none') return withinDeadline(deps, deadline, () => answered(failures, () => send(updateId)));
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

/** The call by the request's deadline; past it, "try again" (the update itself goes on, and a retry with its key gets its answer). */
async function withinDeadline<T>(deps: FlowDeps, deadline: number, call: () => Promise<T>): Promise<T> {
  if (Date.now() >= deadline) throw tryAgainInAMoment();
  try {
    return await deps.temporal.connection.withDeadline(deadline, call);
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isDeadlineExceeded(err)) throw tryAgainInAMoment();
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
      throw tryAgainInAMoment('This could not be completed right now; please try again in a moment.');
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

/** Waits, until the request's deadline, for a run that refused as finishing to close. */
async function closed(deps: FlowDeps, deadline: number, workflowId: string): Promise<void> {
  if (!(await flowClosed(deps, workflowId, deadline - Date.now()))) throw tryAgainInAMoment();
}

/*
 * Reading a flow without changing it: none of these adds to its history,
 * and none outlasts the request's deadline.
 */

/** Waits at most `withinMs` (and no later than the request's deadline) for the flow's current run to close (or continue as new); true once it has, or when there is none. */
export async function flowClosed(deps: FlowDeps, workflowId: string, withinMs: number): Promise<boolean> {
  const until = Math.min(Date.now() + withinMs, deadlineOf(deps));
  if (until <= Date.now()) return false;
  // Only this run: a run that continued as new has closed too.
  const run = deps.temporal.workflow.getHandle(workflowId, undefined, { followRuns: false });
  // Under the deadline the long poll for its result is cancelled too, instead of going on after the answer.
  const result = deps.temporal.connection.withDeadline(until, () => run.result()).then(() => true, (err: unknown) => !isDeadlineExceeded(err));
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), until - Date.now())));
  return Promise.race([result, gaveUp]).finally(() => clearTimeout(timer));
}

/** Whether the flow's latest run is still running: false once it has closed, or when there is none. By the request's deadline. */
export async function flowRunning(deps: FlowDeps, workflowId: string): Promise<boolean> {
  try {
    const { status } = await withinDeadline(deps, deadlineOf(deps), () => deps.temporal.workflow.getHandle(workflowId).describe());
    return status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * What the flow's query answers within `withinMs` (and by the request's
 * deadline), for what only fills a page in: undefined when the flow cannot
 * say in time (it has closed or never started, its worker is away, its run
 * predates the query).
 */
export async function queryFlow<Ret, Args extends unknown[]>(deps: FlowDeps, workflowId: string, query: QueryDefinition<Ret, Args>, args: Args, withinMs = deps.config.updateDeadlineMs): Promise<Ret | undefined> {
  // The SDK's overloads tell no-argument queries from the others; this one call serves both.
  const handle = deps.temporal.workflow.getHandle(workflowId) as { query(def: QueryDefinition<Ret, Args>, ...args: Args): Promise<Ret> };
  const until = Math.min(Date.now() + withinMs, deadlineOf(deps));
  if (until <= Date.now()) return undefined;
  try {
    return await deps.temporal.connection.withDeadline(until, () => handle.query(query, ...args));
  } catch {
    return undefined;
  }
}

/* ---- the request's deadline ---- */

const requestDeadlines = new AsyncLocalStorage<number>();

/**
 * Every request has one deadline, UPDATE_DEADLINE from its arrival: its
 * calls to Temporal, the waits for a finishing run and the reads that answer
 * for a closed flow all end by it, however many of them the request makes.
 * Outside a request (a script), each flow call has a deadline of its own.
 */
export function requestDeadline(config: Config): Middleware {
  return (_ctx, next) => requestDeadlines.run(Date.now() + config.updateDeadlineMs, next);
}

function deadlineOf(deps: FlowDeps): number {
  return requestDeadlines.getStore() ?? Date.now() + deps.config.updateDeadlineMs;
}

/** How long the request may still wait (a page's own wait for a flow to catch up ends by the deadline too). */
export function timeLeft(deps: FlowDeps): number {
  return Math.max(0, deadlineOf(deps) - Date.now());
}

/** `work`'s outcome, or "try again" once the deadline has passed first. */
async function by<T>(deadline: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(tryAgainInAMoment()), Math.max(0, deadline - Date.now()))));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
