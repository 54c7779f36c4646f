import { defineQuery, defineUpdate } from '@temporalio/workflow';

/** The portal pages a billing login may land on (Zulip's `next_page`). */
export const NEXT_PAGES = ['plans', 'billing', 'upgrade', 'sponsorship', 'deactivate'] as const;
export type NextPage = (typeof NEXT_PAGES)[number];

/**
 * Who is logging in. A realm login comes from a self-hosted server's signed
 * access token (user and realm UUIDs); the legacy login names a whole server
 * and the email typed by the person.
 */
export interface BillingIdentity {
  kind: 'realm' | 'server';
  serverUuid: string;
  realmUuid: string | null;
  userUuid: string | null;
  email: string;
  fullName: string;
  /** `https://` or `http://`: how to reach the realm again when the session has expired. */
  uriScheme: string;
  nextPage: NextPage | null;
}

export interface BillingLoginInput {
  identity: BillingIdentity;
  /** A returning billing user skips the confirmation mail and goes straight to the confirm-login step. */
  emailConfirmed: boolean;
  confirmationTtlMs: number;
  loginTtlMs: number;
}

export type BillingLoginStep = 'awaiting_email_confirmation' | 'awaiting_login' | 'logged_in' | 'expired';

export interface BillingLoginResult {
  outcome: 'logged_in' | 'expired';
  billingUserId: number | null;
}

export interface ConfirmationRequest {
  email: string;
  /** The requester's IP address, recorded for the per-IP daily mail limit. */
  ip: string;
}

export interface ConfirmationSent {
  email: string;
  expiresAt: number;
}

export interface EmailConfirmation {
  /** sha256 of the key from the link; the key itself never enters workflow history. */
  keyHash: string;
}

export type EmailConfirmationOutcome =
  | { outcome: 'confirmed'; identity: BillingIdentity; billingUserId: number }
  | { outcome: 'used' | 'expired' | 'unknown' };

export interface LoginConfirmation {
  fullName: string;
  enableMajorReleaseEmails: boolean;
  enableMaintenanceReleaseEmails: boolean;
  /** Set when the person ticked the terms-of-service box on this login. */
  acceptedTosVersion: string | null;
}

export interface LoginConfirmed {
  billingUserId: number;
  identity: BillingIdentity;
}

/** Failure type of a confirmation mail refused by the daily limits (the API answers 429). */
export const CONFIRMATION_LIMIT_REACHED = 'ConfirmationLimitReached';

/** The person asked (again) for a confirmation link; answers once the mail is sent. */
export const requestConfirmationEmail = defineUpdate<ConfirmationSent, [ConfirmationRequest]>('requestConfirmationEmail');
/** The person clicked a link from the mail (`emailConfirmed`). */
export const confirmEmail = defineUpdate<EmailConfirmationOutcome, [EmailConfirmation]>('confirmEmail');
/** The person submitted the confirm-login form (details, release emails, terms of service). */
export const confirmLogin = defineUpdate<LoginConfirmed, [LoginConfirmation]>('confirmLogin');

/** Answers once no confirmation link is being processed, with the step then reached. */
export const confirmationsSettled = defineUpdate<BillingLoginStep>('confirmationsSettled');

export const billingLoginStep = defineQuery<BillingLoginStep>('billingLoginStep');

/** One pending login per realm user, or per server and email for the legacy login. */
export function billingLoginWorkflowId(identity: Pick<BillingIdentity, 'kind' | 'serverUuid' | 'realmUuid' | 'userUuid' | 'email'>): string {
  return identity.kind === 'realm'
    ? `billing-login/${identity.realmUuid}/${identity.userUuid}`
    : `billing-server-login/${identity.serverUuid}/${identity.email.toLowerCase()}`;
}
