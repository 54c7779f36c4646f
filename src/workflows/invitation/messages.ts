// The team invitation's vocabulary: the membership invitation and the
// new-account email validation it relies on. What starts their workflows,
// the messages they answer, how they refuse, their IDs and search
// attributes. Shared by the workflows, the activities and the API.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { Email, ExpiresAt, FlowKind, FlowStep, TeamId } from '../../shared/searchAttributes';
import { failure, FailureTable } from '../../shared/failures';

/* ---------- membership invitation: workflow `membership-invitation/<id>` ---------- */

export const INVITATION_FLOW = 'membership-invitation';
export const invitationWorkflowId = (invitationId: number): string => `${INVITATION_FLOW}/${invitationId}`;

export interface InvitationInput {
  invitationId: number;
  teamId: number;
  createdBy: number;
  inviteeId?: number;
  /** Lower-cased. */
  inviteeEmail?: string;
  message?: string;
  /** ISO date; none: the invitation stays open until joined or revoked. */
  expiresOn?: string;
  /** The emailed link is this + the serialized MembershipInvtnSignedToken. */
  acceptInvitationEndpoint: string;
  /** For an invitation to an account: its notice's unsubscribe link is this + a serialized NotificationUnsubscribeSignedToken. */
  notificationUnsubscribeEndpoint?: string;
}

/** Synapse's MembershipInvitation as the API returns it. */
export interface MembershipInvitation {
  id: string;
  teamId: string;
  inviteeId?: string;
  inviteeEmail?: string;
  message?: string;
  createdOn: string;
  createdBy: string;
  expiresOn?: string;
  /** When the invitee joined the team with it. */
  joinedOn?: string;
}

export type InvitationStep = 'recording' | 'awaiting_invitee' | 'awaiting_join' | 'joined' | 'revoked' | 'expired' | 'refused';
export type BoundVia = 'new_account' | 'existing_account';

export interface InvitationState {
  step: InvitationStep;
  invitation?: MembershipInvitation;
  inviteeId?: number;
  boundVia?: BoundVia;
}

export interface BindInviteeRequest {
  inviteeId: number;
  via: BoundVia;
}

export interface InviteeAccountCreated {
  accountId: number;
  /** Lower-cased; compared with inviteeEmail. */
  email: string;
  /** The email-validation workflow that waits for the answer (signal `carriedInvitationAnswered`). */
  replyTo: string;
}

export interface InviteeVerificationRequest {
  accountId: number;
  /** The signed-in account's email, compared case-insensitively with inviteeEmail. */
  accountEmail: string;
  /** Where the identity-verification link points (+ serialized token). */
  portalEndpoint: string;
  /** False in Synapse's phase 1 (INVITEE_VERIFICATION_PHASE=1): a mismatch is answered with the 403 alone. Absent: phase 2. */
  mailOnMismatch?: boolean;
}

export type InviteeVerificationAnswer =
  | { verified: true; token: InviteeVerificationSignedToken }
  | { verified: false; mailed: boolean };

export interface InviteeVerificationSignedToken {
  [field: string]: string;
  inviteeId: string;
  membershipInvitationId: string;
  expiresOn: string;
  createdOn: string;
  hmac: string;
}

/** The invitation's refusals (its email validation's too) and how the API answers them. */
export const InvitationFailure = {
  /** Withdrawn, used or expired; the message says which. */
  closed: failure('InvitationClosed', 410, 'invitation_closed'),
  /** The flow has not recorded the invitation yet. */
  notYetRecorded: failure('InvitationNotYetRecorded', 409, 'try_again'),
  /** Binding or verification asked of an invitation that has its invitee, or was sent to an account. */
  alreadyBound: failure('InvitationAlreadyBound', 400, 'already_bound'),
  /** Joining without an invitation bound to the caller. */
  notInvited: failure('NotInvited', 403, 'invitation_required'),
  /** A daily cap on invitation mails, first ones and resends (per inviter, team or invitee address). */
  limitReached: failure('InvitationLimitReached', 429, 'limit_reached', { retryAfterSeconds: 3600 }),
  /** The invitation was mailed again as often as a day allows. */
  resendLimitReached: failure('InvitationResendLimitReached', 429, 'limit_reached', { retryAfterSeconds: 3600 }),
  /** The validated address has its account already. */
  accountExists: failure('AccountExists', 409, 'account_exists'),
  usernameTaken: failure('UsernameTaken', 409, 'username_taken'),
  /** The address had its registration mails for the day. */
  registrationLimitReached: failure('RegistrationLimitReached', 429, 'limit_reached', { retryAfterSeconds: 3600 }),
} satisfies FailureTable;

/** Resends per invitation and day: enough for a lost mail, too few to flood an inbox. */
export const RESENDS_PER_DAY = 3;

/** Waits until the invitation is recorded; answers the API's 201 with the stored row, or refuses over a daily cap. */
export const invitationRecordedUpdate = defineUpdate<MembershipInvitation>('invitationRecorded');
/** Binds the invitee's account to an emailed invitation. */
export const bindInviteeUpdate = defineUpdate<MembershipInvitation, [BindInviteeRequest]>('bindInvitee');
/** Synapse's phase 1 and 2: a token when the emails match, else a verification mail to inviteeEmail. */
export const requestInviteeVerificationUpdate = defineUpdate<InviteeVerificationAnswer, [InviteeVerificationRequest]>('requestInviteeVerification');
/** The bound invitee joins the team: the one-click Join. */
export const joinTeamUpdate = defineUpdate<void, [{ accountId: number }]>('joinTeam');
/** From the email-validation flow: an account was created for `email`; binds it when this invitation went to that address. */
export const inviteeAccountCreatedSignal = defineSignal<[InviteeAccountCreated]>('inviteeAccountCreated');
/** A team admin mails the invitation again, with a fresh link (an account's notice again); throttled, and within the daily caps on invitation mails. */
export const resendInvitationUpdate = defineUpdate<MembershipInvitation>('resendInvitation');
/** Withdraws the invitation: its links then say so. */
export const revokeInvitationUpdate = defineUpdate<{ revoked: true }, [{ by: number }]>('revokeInvitation');
export const invitationStateQuery = defineQuery<InvitationState>('invitationState');

/** What an operator filters by in the Temporal Web UI. */
export function invitationSearchAttributes(input: InvitationInput) {
  return [
    { key: FlowKind, value: INVITATION_FLOW },
    { key: FlowStep, value: 'recording' },
    { key: TeamId, value: String(input.teamId) },
    ...(input.inviteeEmail ? [{ key: Email, value: input.inviteeEmail }] : []),
    ...(input.expiresOn ? [{ key: ExpiresAt, value: new Date(input.expiresOn) }] : []),
  ];
}

/** The Web UI's line and note for an invitation, set at its start. */
export function invitationDescription(input: InvitationInput, team: { name: string }, inviter: { email: string }, invitee: string) {
  return {
    summary: `Invitation of ${invitee} to team ${team.name} by ${inviter.email}`,
    details:
      `Team membership invitation ${input.invitationId} of **${invitee}** to team **${team.name}** (${input.teamId}) by ${inviter.email}` +
      `${input.expiresOn ? `, open until ${input.expiresOn}` : ''}: recorded → ${input.inviteeEmail ? 'invitation mail' : 'notice to the account'} → invitee bound to an account → joined; or revoked, or expired. ` +
      'Operator updates: `resendInvitation`, `revokeInvitation`.',
  };
}

/* ---------- new-account email validation: workflow `account-email-validation/<email>` ---------- */

export const EMAIL_VALIDATION_FLOW = 'account-email-validation';
export const emailValidationWorkflowId = (email: string): string => `${EMAIL_VALIDATION_FLOW}/${email.toLowerCase()}`;

export interface EmailValidationInput {
  /** Lower-cased. */
  email: string;
  /** How long each emailed link is good for (EMAIL_VALIDATION_TTL), in ms. */
  ttlMs: number;
  /** ISO times of registration mails sent to the address in the day before this run: they count towards its daily limit. */
  priorMailTimes?: string[];
}

/** Registration mails per address and day: a public endpoint must not become a way to flood an inbox. */
export const REGISTRATION_MAILS_PER_DAY = 5;

/** One "send me the registration link" request (Synapse's NewUser + portalEndpoint). */
export interface ValidationEmailRequest {
  firstName: string;
  lastName: string;
  portalEndpoint: string;
  encodedMembershipInvtnSignedToken?: string;
}

export interface NewAccount {
  username: string;
  firstName: string;
  lastName: string;
  /** Already hashed by the API: the password itself never enters workflow history. */
  passwordHash: string;
  /** The invitation carried by the registration link, its token verified by the API: bound once the account exists. */
  invitationId?: number;
}

export interface CreatedAccount {
  accountId: number;
  /** The carried invitation, when it was bound to the new account. */
  invitation?: MembershipInvitation;
}

export interface CarriedInvitationAnswer {
  invitationId: number;
  /** Absent: the invitation was not bound (another address, already bound, closed). */
  invitation?: MembershipInvitation;
}

export type EmailValidationStep = 'awaiting_account' | 'account_created' | 'lapsed';

/** "Send registration info": queues a mail, or is refused once the address had its mails for the day. */
export const requestRegistrationLinkUpdate = defineUpdate<{ queued: true }, [ValidationEmailRequest]>('requestRegistrationLink');
/** Runs started before registration mails were counted in the flow asked for them with this signal. */
export const requestValidationEmailSignal = defineSignal<[ValidationEmailRequest]>('requestValidationEmail');
/** Creates the account for the validated email; refused once an account exists. */
export const createValidatedAccountUpdate = defineUpdate<CreatedAccount, [NewAccount]>('createAccount');
/** The invitation flow's answer to `inviteeAccountCreated`. */
export const carriedInvitationAnsweredSignal = defineSignal<[CarriedInvitationAnswer]>('carriedInvitationAnswered');
export const emailValidationStepQuery = defineQuery<EmailValidationStep>('emailValidationStep');
/** The names typed with the request whose link expires at `expiresOn` (ISO), to prefill the account form. */
export const registrationNamesQuery = defineQuery<{ firstName: string; lastName: string } | null, [string]>('registrationNames');

/** What an operator filters by in the Temporal Web UI. */
export function emailValidationSearchAttributes(email: string, expiresAt: number) {
  return [
    { key: FlowKind, value: EMAIL_VALIDATION_FLOW },
    { key: FlowStep, value: 'awaiting_account' },
    { key: Email, value: email },
    { key: ExpiresAt, value: new Date(expiresAt) },
  ];
}

export function emailValidationDescription(email: string) {
  return {
    summary: `Registration of ${email}`,
    details: `New-account email validation of **${email}**: a registration link mailed for each request (a few a day) → the account created behind the link, binding an invitation it carries; ends when the last link lapses.`,
  };
}

