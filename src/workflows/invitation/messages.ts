import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { Email, FlowKind, FlowStep, TeamId } from '../../shared/searchAttributes';

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

/** Waits until the invitation is recorded; answers the API's 201 with the stored row. */
export const invitationRecorded = defineUpdate<MembershipInvitation>('invitationRecorded');
/** Binds the invitee's account to an emailed invitation. */
export const bindInvitee = defineUpdate<MembershipInvitation, [BindInviteeRequest]>('bindInvitee');
/** Phase 1 and 2 of the seed: a token when the emails match, else a verification mail to inviteeEmail. */
export const requestInviteeVerification = defineUpdate<InviteeVerificationAnswer, [InviteeVerificationRequest]>('requestInviteeVerification');
/** The bound invitee joins the team: the one-click Join. */
export const joinTeam = defineUpdate<void, [{ accountId: number }]>('joinTeam');
/** From the email-validation flow: an account was created for `email`; binds it when this invitation went to that address. */
export const inviteeAccountCreated = defineSignal<[InviteeAccountCreated]>('inviteeAccountCreated');
/** Withdraws the invitation: its links then say so. */
export const revokeInvitation = defineUpdate<void, [{ by: number }]>('revokeInvitation');
export const invitationState = defineQuery<InvitationState>('invitationState');

/** What an operator filters by in the Temporal Web UI. */
export function invitationSearchAttributes(input: InvitationInput) {
  return [
    { key: FlowKind, value: INVITATION_FLOW },
    { key: FlowStep, value: 'recording' },
    { key: TeamId, value: String(input.teamId) },
    ...(input.inviteeEmail ? [{ key: Email, value: input.inviteeEmail }] : []),
  ];
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

/** Runs started before registration mails were counted in the flow asked for them with this signal. */
export const requestValidationEmail = defineSignal<[ValidationEmailRequest]>('requestValidationEmail');
/** "Send registration info": queues a mail, or is refused once the address had its mails for the day (`TooMany`). */
export const requestRegistrationLink = defineUpdate<{ queued: true }, [ValidationEmailRequest]>('requestRegistrationLink');
/** Creates the account for the validated email; refused once an account exists. */
export const createAccount = defineUpdate<CreatedAccount, [NewAccount]>('createAccount');
/** The invitation flow's answer to `inviteeAccountCreated`. */
export const carriedInvitationAnswered = defineSignal<[CarriedInvitationAnswer]>('carriedInvitationAnswered');
export const emailValidationStep = defineQuery<EmailValidationStep>('emailValidationStep');

/** What an operator filters by in the Temporal Web UI. */
export function emailValidationSearchAttributes(email: string) {
  return [
    { key: FlowKind, value: EMAIL_VALIDATION_FLOW },
    { key: FlowStep, value: 'awaiting_account' },
    { key: Email, value: email },
  ];
}

/** Failure types the API maps to HTTP statuses. */
export const Refusal = {
  /** 400 */
  BadRequest: 'BadRequest',
  /** 403 */
  Forbidden: 'Forbidden',
  /** 409 */
  Conflict: 'Conflict',
  /** 410: revoked, joined or expired */
  Gone: 'Gone',
  /** 429: a daily limit is reached */
  TooMany: 'TooMany',
  /** The flow is finishing: the same request starts a new one once it has. */
  Ending: 'Ending',
} as const;
