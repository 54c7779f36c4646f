import { ApplicationFailure } from '@temporalio/common';

/**
 * A business refusal a flow can answer with: its failure type (what the
 * workflow or activity raises), and how the API answers it. Each flow lists
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

/** The refusal to throw from a validator, an update handler or an activity. Non-retryable: retrying changes nothing. */
export function refusal(failure: FlowFailure, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: failure.type, message, nonRetryable: true });
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
