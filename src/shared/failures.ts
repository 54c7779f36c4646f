import { ActivityFailure, ApplicationFailure } from '@temporalio/common';

/**
 * A business refusal a flow can answer with: its failure type (what the
 * workflow raises), and how the API answers it. Each flow lists
 * its own in a failure table in its messages.ts; the API maps them in one
 * place (src/api/flows.ts). Safe to import from workflow code.
 */
export interface FlowFailure {
  /** The ApplicationFailure type, as it travels through Temporal. */
  type: string;
  status: number;
  /** Machine-readable, in JSON answers. */
  code: string;
  /** When the refusal is a limit: how long a client should wait, in seconds. */
  retryAfterSeconds?: number;
  /** The page title when a person sees it. */
  title?: string;
}

export type FailureTable = Record<string, FlowFailure>;

/** One entry of a failure table: the failure type Temporal records, and the API's answer (status, code, and what else it says). */
export function failure(type: string, status: number, code: string, also: Pick<FlowFailure, 'retryAfterSeconds' | 'title'> = {}): FlowFailure {
  return { type, status, code, ...also };
}

/**
 * A run that is finishing (its outcome decided, its last handlers running)
 * refuses new requests with this: the API waits until it has closed and
 * sends the same request again, which starts a new run.
 */
export const FlowEnding = failure('FlowEnding', 409, 'flow_ending');

/** The refusal to throw from a validator or an update handler. Non-retryable: retrying changes nothing. */
export function refusal(failure: FlowFailure, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: failure.type, message, nonRetryable: true });
}

/**
 * A business refusal as an activity returns it: the entry of its flow's
 * failure table (by failure type) and the message for the person. A refusal
 * is not a fault: returned, it is not logged or retried as a failed activity.
 * The workflow raises it from its table (`unlessRefused`, `raise`).
 */
export interface Refusal {
  refused: string;
  message: string;
}

/** The refusal an activity returns. */
export function refused(failure: FlowFailure, message: string): Refusal {
  return { refused: failure.type, message };
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && 'refused' in value;
}

/**
 * How runs recorded before refusals had this one shape recorded an
 * activity's refusal, so that they replay and refuse as they did: as the
 * activity's failure, by failure type (`failedAs`), or as a value of the
 * activity's own (`returned`: a code or a message alone in `refused`).
 */
export interface RecordedRefusals {
  failedAs?: Record<string, FlowFailure>;
  returned?: (value: { refused: string; message?: string }) => ApplicationFailure;
}

/** A refusal an activity returned, as the failure the workflow throws. */
export function raise(value: Refusal, failures: FailureTable, recorded: RecordedRefusals = {}): ApplicationFailure {
  const entry = Object.values(failures).find((f) => f.type === value.refused);
  if (entry && typeof value.message === 'string') return refusal(entry, value.message);
  return recorded.returned?.(value) ?? ApplicationFailure.create({ type: value.refused, message: value.message ?? value.refused, nonRetryable: true });
}

/** An activity's answer, or its refusal raised from the flow's failure table (`step` is the activity's call). */
export async function unlessRefused<T>(step: Promise<T | Refusal>, failures: FailureTable, recorded: RecordedRefusals = {}): Promise<T> {
  let answer: T | Refusal;
  try {
    answer = await step;
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    const failedAs = cause instanceof ApplicationFailure && cause.type ? recorded.failedAs?.[cause.type] : undefined;
    throw failedAs ? refusal(failedAs, cause!.message) : err;
  }
  if (isRefusal(answer)) throw raise(answer, failures, recorded);
  return answer;
}

/**
 * The same refusal raised outside a workflow, by code the API calls directly
 * (a read model, a record no flow owns); the API answers it by its failure.
 */
export class Refused extends Error {
  constructor(
    readonly failure: FlowFailure,
    message: string,
    /** Page title when a person sees it. */
    readonly title?: string,
  ) {
    super(message);
    this.name = 'Refused';
  }
}
