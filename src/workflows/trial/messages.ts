// The free trial's vocabulary: what starts its workflows, the messages they
// answer, how they refuse, their IDs and search attributes. Shared by the
// workflows, the activities and the API.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { Email, ExpiresAt, FlowKind, FlowStep } from '../../shared/searchAttributes';
import { failure, FailureTable } from '../../shared/failures';

/* ---------- the trial: workflow `trial/<email>` ---------- */

export const TRIAL_FLOW = 'trial';
export const trialWorkflowId = (email: string): string => `${TRIAL_FLOW}/${email}`;

/**
 * The business status, as /api/trial/infos reports it (`unverified`: the link
 * was never used and the flow ended; `existing_account`: the address already
 * had an account, so it got a "welcome back" mail instead of a trial).
 */
export type TrialStatus = 'pending_verification' | 'active' | 'expired' | 'converted' | 'unverified' | 'existing_account';

/** Where the flow waits; mirrored to the `FlowStep` search attribute. */
export type TrialStep =
  | 'awaiting_verification'
  | 'awaiting_account_creation'
  | 'trial_running'
  | 'trial_expired'
  | 'converted'
  | 'unverified'
  | 'welcome_back';

export interface TrialInput {
  /** Normalized address; also the username and the workflow ID's suffix. */
  email: string;
  firstName: string;
  lastName: string;
  company: string;
  verificationTtlMs: number;
  trialLengthMs: number;
  reminderBeforeMs: number;
  /**
   * Set by every start since registration became an Update-with-Start: the
   * update that starts the run asks for the first mail. Runs started before
   * sent their first mail unasked.
   */
  mailOnRequest?: boolean;
  /** ISO times of registration mails the address got in the hour before this run: they count towards its limit. */
  priorMailTimes?: string[];
  /** Set when the trial goes on in a new run (continue-as-new): what it had reached. */
  resume?: TrialResume;
}

/** A running trial, as it continues in a new run once the account exists (or when its history grows long). */
export interface TrialResume {
  account: CreatedTrialAccount;
  status: 'active' | 'expired';
  trialEndsAt: number;
  /** The end date the reminder was sent for. */
  remindedFor: number;
  /** When the trial expired (0 while active): its revival window counts from here. */
  expiredAt: number;
  verificationMailsSent: number;
}

export interface TrialState {
  email: string;
  status: TrialStatus;
  step: TrialStep;
  accountId?: number;
  appId?: number;
  /** ISO date. */
  trialEndsAt?: string;
  verificationEmailsSent: number;
}

/** Registration mails (verification or "welcome back") per address per hour. */
export const MAILS_PER_HOUR = 3;

/** The trial's refusals (its password reset's too) and how the API answers them. */
export const TrialFailure = {
  throttled: failure('TrialThrottled', 429, 'too_many_mails', { retryAfterSeconds: 3600 }),
  /** A token of an earlier registration, or the verification time is over. */
  tokenExpired: failure('TrialTokenExpired', 410, 'token_expired'),
  tokenUsed: failure('TrialTokenUsed', 410, 'token_used'),
  /** An account with this address exists (made by another flow). */
  accountExists: failure('TrialAccountExists', 409, 'account_exists'),
  /** Extend or complete on a trial that is not running or expired. */
  notRunning: failure('TrialNotRunning', 409, 'trial_not_running'),
  /** The account could not be created right now (database trouble); the link stays valid. */
  unavailable: failure('TrialUnavailable', 503, 'try_again'),
  /** An operator's update with input it cannot take. */
  invalidInput: failure('TrialInvalidInput', 400, 'invalid_request'),
  /** Password-reset mails to the address in the last hour. */
  passwordResetThrottled: failure('PasswordResetThrottled', 429, 'too_many_mails', { retryAfterSeconds: 3600 }),
  /** The password is no longer the one the reset link was issued for: the link was used. */
  resetLinkUsed: failure('PasswordResetLinkUsed', 410, 'token_used'),
  /** An embed token asked for with another user's access token, for an app not theirs, or once the trial has expired. */
  notYours: failure('TrialEmbedNotYours', 403, 'not_yours'),
  unknownApp: failure('TrialUnknownApp', 404, 'unknown_app'),
  trialExpired: failure('TrialExpired', 403, 'trial_expired'),
} satisfies FailureTable;

/** Register (again): asks for a mail, a verification mail while the trial waits for it, else "welcome back". */
export interface RegistrationRequest {
  firstName?: string;
  lastName?: string;
  company?: string;
}
export const requestVerificationEmailUpdate = defineUpdate<{ queued: true }, [RegistrationRequest]>('requestVerificationEmail');

/** The auth service (or the registration page) checks a verification token. */
export interface VerifyToken {
  tokenHash: string;
}
export interface VerifiedTrial {
  username: string;
  firstName: string;
  lastName: string;
}
export const verifyTokenUpdate = defineUpdate<VerifiedTrial, [VerifyToken]>('verifyToken');

/** Account creation with the token; only the password's argon2id hash travels. */
export interface CreateTrialAccount {
  tokenHash: string;
  passwordHash: string;
  firstName?: string;
  lastName?: string;
}
export interface CreatedTrialAccount {
  username: string;
  accountId: number;
  appId: number;
  appName: string;
  trialEndsAt: string;
}
export const createTrialAccountUpdate = defineUpdate<CreatedTrialAccount, [CreateTrialAccount]>('createAccount');

/** Operator: add days to the trial (from its end, or from now when it already expired). */
export const extendTrialUpdate = defineUpdate<{ trialEndsAt: string }, [{ days: number }]>('extendTrial');

/** Operator: the trial became a paid account; no expiry afterwards. */
export const completeTrialUpdate = defineUpdate<{ status: 'converted' }, []>('completeTrial');

/** Operator: end the trial now (a pending one as unverified; a running or expired one with access revoked), with a reason for the record. */
export const endTrialUpdate = defineUpdate<{ ending: string }, [{ reason: string }]>('endTrial');

export const trialStateQuery = defineQuery<TrialState>('trialState');

/** What a trial's flows carry at start, so operators find them in the Web UI by kind, step, address and deadline. */
export function trialSearchAttributes(email: string, step: TrialStep | 'password_reset', expiresAt: number) {
  return [
    { key: FlowKind, value: TRIAL_FLOW },
    { key: FlowStep, value: step },
    { key: Email, value: email },
    { key: ExpiresAt, value: new Date(expiresAt) },
  ];
}

/** The Web UI's line and note for a trial, set at its start. */
export function trialDescription(email: string) {
  return {
    summary: `Trial for ${email}`,
    details: `Free-trial sign-up of **${email}**: verification mail → link opened → account and app created → reminder before the end → trial ends, unless extended or converted. Operator updates: \`extendTrial\`, \`completeTrial\`, \`endTrial\`, \`requestVerificationEmail\`.`,
  };
}

export function passwordResetDescription(email: string) {
  return { summary: `Password reset for ${email}`, details: `A password reset of **${email}**: a link mailed for each request → the new password chosen once; ends when the last link lapses.` };
}

/* ---------- password reset: workflow `trial/<email>/password-reset` ---------- */

export const passwordResetWorkflowId = (email: string): string => `${TRIAL_FLOW}/${email}/password-reset`;

export interface PasswordResetInput {
  email: string;
  /** ISO times of reset mails the address got in the hour before this run. */
  priorMailTimes?: string[];
}

export type PasswordResetStep = 'awaiting_new_password' | 'password_changed' | 'lapsed';

/** Password-reset links live this long. */
export const PASSWORD_RESET_TTL_MS = 3_600_000;

/** "Reset your password": mails a link if the address has an account; the answer is the same either way. */
export const requestPasswordResetUpdate = defineUpdate<{ queued: true }, []>('requestPasswordReset');

export interface NewPassword {
  accountId: number;
  /** Fingerprint of the password hash the link was issued for. */
  passwordFingerprint: string;
  passwordHash: string;
}
/** The form behind the link: sets the new password once, and ends every earlier session. */
export const chooseNewPasswordUpdate = defineUpdate<{ username: string }, [NewPassword]>('chooseNewPassword');
