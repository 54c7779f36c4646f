// What an operator reads in the Temporal Web UI while a flow runs: its
// current details (Markdown: the step, what it waits for and until when,
// the updates an operator may send now), and a one-line summary on each
// timer and activity. None of this is a command, so it does not change what
// a recorded history replays; it travels through the payload codec like
// every other payload.
import { setCurrentDetails } from '@temporalio/workflow';

export interface Narration {
  /** The step, in a few words: "Waiting for the email to be verified". */
  step: string;
  /** What ends the wait, for a person: "ada@example.com to open the verification link". */
  waitingFor?: string;
  /** The wait's deadline (epoch ms) and what happens then. */
  until?: { at: number; then: string };
  /** The updates an operator may send now: name, arguments, what it does. */
  operatorActions?: OperatorAction[];
}

export interface OperatorAction {
  update: string;
  input?: string;
  does: string;
}

export function narrate({ step, waitingFor, until, operatorActions = [] }: Narration): void {
  const lines = [`**${step}**`];
  if (waitingFor) lines.push('', `Waiting for ${waitingFor}.`);
  if (until) lines.push('', `Deadline: ${utc(until.at)}, then ${until.then}.`);
  if (operatorActions.length) {
    lines.push('', 'Operator actions (Send an Update):');
    for (const action of operatorActions) lines.push(`- \`${action.update}\`${action.input ? ` with \`${action.input}\`` : ''}: ${action.does}`);
  }
  setCurrentDetails(lines.join('\n'));
}

/** A deadline as a person reads it: `2026-12-02 14:05 UTC`. */
export function utc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

/** A proxied activity (or local activity) called with the summary the Web UI shows for it. */
export function described<A extends unknown[], R>(activity: { executeWithOptions(options: { summary: string }, args: A): Promise<R> }, summary: string, ...args: A): Promise<R> {
  return activity.executeWithOptions({ summary }, args);
}

/** The options of a timer the Web UI shows by this name instead of its sequence number. */
export const timer = (summary: string) => ({ summary });
