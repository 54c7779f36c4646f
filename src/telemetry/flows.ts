/**
 * The flows as metrics, logs and dashboards name them. Pure data, read by the
 * workflow interceptors (inside the workflow sandbox) and by the worker.
 */

/** Workflow type → flow kind. Types kept registered under an old name map to their flow too. */
const KIND_OF_TYPE: Record<string, string> = {
  trialWorkflow: 'trial',
  trialWelcomeBackWorkflow: 'trial',
  trialPasswordResetWorkflow: 'password_reset',
  passwordResetWorkflow: 'password_reset',
  membershipInvitationWorkflow: 'invitation',
  accountEmailValidationWorkflow: 'account',
  billingLoginWorkflow: 'billing',
  billingLogin: 'billing',
};

export function flowKindOf(workflowType: string): string {
  return KIND_OF_TYPE[workflowType] ?? 'other';
}

/**
 * The funnel of each flow: the update or signal whose first acceptance in a
 * run means the person reached that stage (every flow starts at `started`).
 */
export const FUNNEL: Record<string, Record<string, string>> = {
  trial: { verifyToken: 'verified', createAccount: 'created', completeTrial: 'converted' },
  invitation: { bindInvitee: 'verified', inviteeAccountCreated: 'created', joinTeam: 'joined' },
  account: { createAccount: 'created' },
  billing: { confirmEmail: 'verified', confirmLogin: 'logged_in' },
  password_reset: { chooseNewPassword: 'changed' },
};

/** A flow's result as a metric label: its final step or outcome, never free text. */
export function outcomeOf(result: unknown): string {
  const value = typeof result === 'string' ? result : (result as { outcome?: unknown; status?: unknown } | undefined)?.outcome ?? (result as { status?: unknown } | undefined)?.status;
  return typeof value === 'string' && /^[a-z_]{1,40}$/.test(value) ? value : 'completed';
}

/** An update that answers with a dead link's state (`{ outcome: 'expired' }`) was taken but moved nobody forward. */
export function answerReachesStage(answer: unknown): boolean {
  const outcome = (answer as { outcome?: unknown } | undefined)?.outcome;
  return !(typeof outcome === 'string' && ['used', 'expired', 'unknown'].includes(outcome));
}
