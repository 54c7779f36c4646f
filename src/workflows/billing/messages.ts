// The self-hosted billing login's vocabulary: what starts its workflow, the
// messages it answers, how it refuses, its ID and search attributes. Shared
// by the workflow, the activities and the API.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { Email, ExpiresAt, FlowKind, FlowStep, RealmUuid, ServerUuid } from '../../shared/searchAttributes';
import { failure, FailureTable } from '../../shared/failures';

export const BILLING_LOGIN_FLOW = 'billing-login';

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

/** The billing flow's refusals and how the API answers them. */
export const BillingFailure = {
  /** Zulip's daily limits on confirmation mails (per IP address, per server). */
  confirmationLimitReached: failure('ConfirmationLimitReached', 429, 'RATE_LIMIT_HIT', { retryAfterSeconds: 3600, title: 'Too many confirmation emails' }),
  /** The confirm-login form before the email is confirmed. */
  notAwaitingLogin: failure('NotAwaitingLogin', 409, 'email_not_confirmed', { title: 'Email not confirmed' }),
  /** The server or organization is gone (deregistered) under a login in progress. */
  billingUserNotFound: failure('BillingUserNotFound', 409, 'login_ended', { title: 'Login ended' }),
  /** An operator's update with input it cannot take. */
  invalidInput: failure('BillingInvalidInput', 400, 'BAD_REQUEST', { title: 'Invalid request' }),
  /*
   * The self-hosted servers' calls (routes.ts), refused with the codes and
   * statuses of Zulip's bouncer (zerver/lib/exceptions.py, zilencer/auth.py).
   * Zulip's server acts on some codes: INVALID_ZULIP_SERVER makes it warn its
   * admins, MISSING_REMOTE_REALM makes it upload its realms and ask again.
   */
  unknownServer: failure('UnknownZulipServer', 401, 'INVALID_ZULIP_SERVER'),
  wrongServerKey: failure('WrongZulipServerKey', 401, 'INVALID_ZULIP_SERVER'),
  /** Registering a known server with another key: Zulip answers this one with 400. */
  registrationKeyMismatch: failure('RegistrationKeyMismatch', 400, 'INVALID_ZULIP_SERVER'),
  serverDeactivated: failure('RemoteServerDeactivated', 401, 'REMOTE_SERVER_DEACTIVATED'),
  missingRealm: failure('MissingRemoteRealm', 403, 'MISSING_REMOTE_REALM'),
  realmOfAnotherServer: failure('RemoteRealmServerMismatch', 403, 'REMOTE_REALM_SERVER_MISMATCH_ERROR'),
  /** An uploaded realm that is registered to another server. */
  duplicateRealm: failure('DuplicateRealmRegistration', 400, 'BAD_REQUEST'),
} satisfies FailureTable;

/** The person asked (again) for a confirmation link; answers once the mail is sent. */
export const requestConfirmationEmailUpdate = defineUpdate<ConfirmationSent, [ConfirmationRequest]>('requestConfirmationEmail');
/** The person clicked a link from the mail (`emailConfirmed`). */
export const confirmEmailUpdate = defineUpdate<EmailConfirmationOutcome, [EmailConfirmation]>('confirmEmail');
/** The person submitted the confirm-login form (details, release emails, terms of service). */
export const confirmLoginUpdate = defineUpdate<LoginConfirmed, [LoginConfirmation]>('confirmLogin');

/** How many confirmation links the login is processing right now (a page waits for 0 before it chooses its form). */
export const confirmationsInFlightQuery = defineQuery<number>('confirmationsInFlight');
/** What pages of earlier versions asked instead (an update, so it waited): kept so their recorded runs replay. */
export const confirmationsSettledUpdate = defineUpdate<BillingLoginStep>('confirmationsSettled');

export const billingLoginStepQuery = defineQuery<BillingLoginStep>('billingLoginStep');

/** Operator: end the login now (as expired); its links and the confirm-login form stop working. Input {"reason": "..."}. */
export const endLoginUpdate = defineUpdate<{ ending: string }, [{ reason: string }]>('endLogin');

/** What a login carries at start, so operators find it in the Web UI by kind, step, address, server and realm. */
export function billingLoginSearchAttributes(identity: BillingIdentity, emailConfirmed: boolean, expiresAt: number) {
  return [
    { key: FlowKind, value: BILLING_LOGIN_FLOW },
    { key: FlowStep, value: emailConfirmed ? 'awaiting_login' : 'awaiting_email_confirmation' },
    { key: Email, value: identity.email.toLowerCase() },
    { key: ServerUuid, value: identity.serverUuid },
    ...(identity.realmUuid ? [{ key: RealmUuid, value: identity.realmUuid }] : []),
    { key: ExpiresAt, value: new Date(expiresAt) },
  ];
}

/** The Web UI's line and note for a login, set at its start; `organization` is the realm's name or the server's host. */
export function billingLoginDescription(identity: BillingIdentity, organization: string) {
  const what = identity.kind === 'realm' ? 'organization' : 'server';
  return {
    summary: `Billing login of ${identity.email} for ${organization}`,
    details:
      `Self-hosted billing login of **${identity.fullName || identity.email}** (${identity.email}) for the ${what} **${organization}**` +
      `${identity.realmUuid ? ` (realm ${identity.realmUuid})` : ''}, server ${identity.serverUuid}: confirmation mail → email confirmed → confirm-login form (terms of service) → logged in. ` +
      'Operator updates: `requestConfirmationEmail`, `endLogin`.',
  };
}

/** One pending login per realm user, or per server and email for the legacy login. */
export function billingLoginWorkflowId(identity: Pick<BillingIdentity, 'kind' | 'serverUuid' | 'realmUuid' | 'userUuid' | 'email'>): string {
  return identity.kind === 'realm'
    ? `${BILLING_LOGIN_FLOW}/${identity.realmUuid}/${identity.userUuid}`
    : `billing-server-login/${identity.serverUuid}/${identity.email.toLowerCase()}`;
}
