import { Email, FlowKind, FlowStep } from '../../shared/searchAttributes';
import { defineQuery, defineUpdate } from '@temporalio/workflow';

/** The business status, as /api/trial/infos reports it (`unverified`: the link was never used and the flow ended). */
export type TrialStatus = 'pending_verification' | 'active' | 'expired' | 'converted' | 'unverified';

/** Where the flow waits; mirrored to the `FlowStep` search attribute. */
export type TrialStep =
  | 'awaiting_verification'
  | 'awaiting_account_creation'
  | 'trial_running'
  | 'trial_expired'
  | 'converted'
  | 'unverified';

export interface TrialInput {
  /** Normalized address; also the username and the workflow ID's suffix. */
  email: string;
  firstName: string;
  lastName: string;
  company: string;
  verificationTtlMs: number;
  trialLengthMs: number;
  reminderBeforeMs: number;
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

/**
 * Failure types the updates' validators and handlers raise; the API maps
 * each to one HTTP status.
 */
export const TrialFailure = {
  /** 429: the address already got its mails for this hour. */
  throttled: 'TrialThrottled',
  /** The flow is past verification: register falls back to the "welcome back" mail. */
  alreadyVerified: 'TrialAlreadyVerified',
  /** 410: a token of an earlier registration, or the verification time is over. */
  tokenExpired: 'TrialTokenExpired',
  /** 410: the token already created the account. */
  tokenUsed: 'TrialTokenUsed',
  /** 409: an account with this address exists (made by another flow). */
  accountExists: 'TrialAccountExists',
  /** 409: extend/complete on a trial that is not running or expired. */
  notRunning: 'TrialNotRunning',
  /** 503: the account could not be created right now (database trouble); the link stays valid. */
  unavailable: 'TrialUnavailable',
} as const;

/** Registration mails (verification or "welcome back") per address per hour. */
export const MAILS_PER_HOUR = 3;

/** Register (again): asks for a verification mail. Rejected when throttled. */
export interface RequestVerificationEmail {
  firstName?: string;
  lastName?: string;
  company?: string;
}
export const requestVerificationEmailUpdate = defineUpdate<{ queued: true }, [RequestVerificationEmail]>('requestVerificationEmail');

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
export const createAccountUpdate = defineUpdate<CreatedTrialAccount, [CreateTrialAccount]>('createAccount');

/** Operator: add days to the trial (from its end, or from now when it already expired). */
export const extendTrialUpdate = defineUpdate<{ trialEndsAt: string }, [{ days: number }]>('extendTrial');

/** Operator: the trial became a paid account; no expiry afterwards. */
export const completeTrialUpdate = defineUpdate<{ status: 'converted' }, []>('completeTrial');

export const trialStateQuery = defineQuery<TrialState>('trialState');

/** What a trial's flows carry at start, so operators find them in the Web UI by kind, step and address. */
export function trialSearchAttributes(email: string, step: string = 'awaiting_verification') {
  return [
    { key: FlowKind, value: 'trial' },
    { key: FlowStep, value: step },
    { key: Email, value: email },
  ];
}
