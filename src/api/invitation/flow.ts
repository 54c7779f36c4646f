// The team invitation's workflows as the API reaches them (the membership
// invitation and the new-account email validation): one function per
// request, each one workflow call through src/api/flows.ts. Shared by the
// JSON routes and the pages.
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import type { Config } from '../../config';
import { HttpError, plainText, tokenRefusal, tryAgainInAMoment } from '../http';
import { flowClosed, keyOf, queryFlow, startOrUpdate, timeLeft, updateFlow } from '../flows';
import { hashPassword, passwordProblem } from '../../shared/auth';
import { chooseLinkEndpoint, LinkEndpointError, LinkKind } from '../../shared/links';
import { TokenError, TokenSigner } from '../../shared/tokens';
import { emailAddress } from '../../shared/mail';
import { log } from '../../shared/log';
import * as records from '../../domain/invitation';
import {
  bindInviteeUpdate,
  BoundVia,
  createValidatedAccountUpdate,
  emailValidationSearchAttributes,
  emailValidationDescription,
  emailValidationWorkflowId,
  InvitationFailure,
  InvitationInput,
  invitationRecordedUpdate,
  invitationSearchAttributes,
  invitationDescription,
  invitationWorkflowId,
  InviteeVerificationAnswer,
  joinTeamUpdate,
  MembershipInvitation,
  registrationNamesQuery,
  requestInviteeVerificationUpdate,
  requestRegistrationLinkUpdate,
  resendInvitationUpdate,
  revokeInvitationUpdate,
} from '../../workflows/invitation/messages';

/* ---- what the requests carry, as the JSON API and the pages both take it ---- */

export const personName = plainText(100, { min: 1 });
export const USERNAME = /^[a-z0-9._-]{3,}$/;

/** Synapse's NewUser. */
export const newUser = z.object({
  email: emailAddress(),
  firstName: personName,
  lastName: personName,
  encodedMembershipInvtnSignedToken: z.string().max(4096).optional(),
});

/** A caller-supplied link endpoint, when it is one allowed for its kind of link; a 400 that names the parameter otherwise. */
export function linkEndpoint(config: Config, kind: LinkKind, value: unknown, name: string): string {
  try {
    return chooseLinkEndpoint(config.linkEndpoints[kind], value, config.defaultLinkEndpoints[kind]);
  } catch (err) {
    if (err instanceof LinkEndpointError) throw new HttpError(400, `${name} ${err.problem}`);
    throw err;
  }
}

/** A page does not wait longer than this for the names to prefill it with. */
const NAMES_WITHIN_MS = 2_000;

export function invitationFlow(deps: ApiDeps) {
  const { db, signer, config } = deps;

  /** Why an invitation's flow no longer answers, read from its row. */
  async function closedInvitation(invitationId: number, status = 410): Promise<HttpError> {
    const row = await records.findInvitation(db, invitationId);
    if (!row) return new HttpError(404, 'There is no such invitation.');
    return new HttpError(status, records.CLOSED_MESSAGES[records.closedReason(row) ?? 'expired'], { code: InvitationFailure.closed.code });
  }

  /** The invitation a registration carries, when its token is genuine; the account is created either way. */
  function carriedInvitationId(encoded: string | undefined): number | undefined {
    if (!encoded) return undefined;
    try {
      return Number(records.verifyInvitationToken(signer, TokenSigner.parse(encoded)).membershipInvitationId);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      log.info({ reason: err.message }, 'carried invitation not bound');
      return undefined;
    }
  }

  /** Synapse's phase 1 and 2: a verification token when the caller's email is the invited one, else a mail to the invited address. */
  async function requestVerification(invitationId: number, accountId: number, portalEndpoint: string, closedStatus = 400): Promise<InviteeVerificationAnswer> {
    const account = await records.findAccount(db, accountId);
    if (!account) throw new HttpError(401, 'The signed-in account no longer exists.');
    const request = { accountId, accountEmail: account.email, portalEndpoint, mailOnMismatch: config.inviteeVerificationPhase === 2 };
    return updateFlow(deps, InvitationFailure, invitationWorkflowId(invitationId), requestInviteeVerificationUpdate, [request], () => closedInvitation(invitationId, closedStatus));
  }

  return {
    /** Starts the invitation's flow (or reaches it, for a retried request) and answers once it has recorded the invitation or refused it. */
    async start(input: InvitationInput): Promise<MembershipInvitation> {
      const [team, inviter, inviteeAccount] = await Promise.all([
        records.findTeam(db, input.teamId),
        records.findAccount(db, input.createdBy),
        input.inviteeId === undefined ? undefined : records.findAccount(db, input.inviteeId),
      ]);
      const invitee = input.inviteeEmail ?? inviteeAccount?.email ?? `account ${input.inviteeId}`;
      return startOrUpdate(
        deps,
        InvitationFailure,
        {
          workflowType: 'membershipInvitationWorkflow',
          workflowId: invitationWorkflowId(input.invitationId),
          args: [input],
          searchAttributes: invitationSearchAttributes(input),
          description: invitationDescription(input, team ?? { name: `#${input.teamId}` }, inviter ?? { email: `account ${input.createdBy}` }, invitee),
          updateKey: `record-invitation/${input.invitationId}`,
        },
        invitationRecordedUpdate,
      );
    },

    requestVerification,

    /**
     * The JSON API's verification, asked by the invitee only: an account
     * with the invited address, or whoever holds the emailed link
     * (`heldLink`, its serialized token). Anyone else gets one answer,
     * whatever the invitation's state or existence, and nothing is mailed or
     * counted.
     */
    async requestVerificationAsInvitee(invitationId: number, accountId: number, portalEndpoint: string, heldLink: string): Promise<InviteeVerificationAnswer> {
      const [row, account] = await Promise.all([records.findInvitation(db, invitationId), records.findAccount(db, accountId)]);
      const isInvitee = !!row?.inviteeEmail && account?.email === row.inviteeEmail;
      if (!row || !(isInvitee || records.holdsInvitationLink(signer, heldLink, invitationId))) {
        throw new HttpError(403, "Only the invitee may ask for this: sign in with the invited address, or send the invitation link's token in X-Invitation-Token.");
      }
      return requestVerification(invitationId, accountId, portalEndpoint);
    },

    /** A team admin's resend: a fresh link (or notice) mailed now, within the flow's daily limit and the daily caps on invitation mails. */
    async resend(invitationId: number): Promise<void> {
      await updateFlow(deps, InvitationFailure, invitationWorkflowId(invitationId), resendInvitationUpdate, [], () => closedInvitation(invitationId));
    },

    bind(invitationId: number, inviteeId: number, via: BoundVia, closedStatus = 410): Promise<MembershipInvitation> {
      return updateFlow(deps, InvitationFailure, invitationWorkflowId(invitationId), bindInviteeUpdate, [{ inviteeId, via }], () => closedInvitation(invitationId, closedStatus), `bind-invitee/${invitationId}/${inviteeId}`);
    },

    /** The one-click Join: allowed with an open invitation bound to the caller. True when this call made them a member. */
    async join(teamId: number, accountId: number): Promise<boolean> {
      if (await records.teamMember(db, teamId, accountId)) return false;
      const invitation = await records.openInvitationFor(db, teamId, accountId);
      const required = () => new HttpError(403, 'An invitation is required to join the team.', { code: InvitationFailure.notInvited.code });
      if (!invitation) throw required();
      try {
        await updateFlow(deps, InvitationFailure, invitationWorkflowId(invitation.id), joinTeamUpdate, [{ accountId }], required, `join-team/${invitation.id}/${accountId}`);
      } catch (err) {
        // An invitation that closed meanwhile no longer entitles anyone to join.
        if (err instanceof HttpError && err.extra.code === InvitationFailure.closed.code) throw required();
        throw err;
      }
      return true;
    },

    /** Withdraws an open invitation; withdrawing twice is not an error. */
    async revoke(invitationId: number, by: number): Promise<void> {
      try {
        await updateFlow(deps, InvitationFailure, invitationWorkflowId(invitationId), revokeInvitationUpdate, [{ by }], () => closedInvitation(invitationId), `revoke-invitation/${invitationId}`);
      } catch (err) {
        if (!(err instanceof HttpError && err.reason === records.CLOSED_MESSAGES.withdrawn)) throw err;
      }
    },

    /**
     * "Send registration info": the address's email-validation flow queues a
     * mail (started by the first request). Known and unknown addresses get
     * the same answer; the flow mails an account's owner a notice instead of
     * a link, and counts the day's mails itself, so simultaneous requests
     * cannot pass its limit together.
     */
    async requestRegistrationLink(user: z.infer<typeof newUser>, portalEndpoint: string): Promise<void> {
      const email = user.email.toLowerCase();
      if (user.encodedMembershipInvtnSignedToken) {
        try {
          records.verifyInvitationToken(signer, TokenSigner.parse(user.encodedMembershipInvtnSignedToken));
        } catch (err) {
          tokenRefusal(err);
        }
      }
      await startOrUpdate(
        deps,
        InvitationFailure,
        {
          workflowType: 'accountEmailValidationWorkflow',
          workflowId: emailValidationWorkflowId(email),
          args: [{ email, ttlMs: config.ttl.emailValidation, priorMailTimes: await records.registrationMailTimes(db, email) }],
          searchAttributes: emailValidationSearchAttributes(email, Date.now() + config.ttl.emailValidation),
          description: emailValidationDescription(email),
        },
        requestRegistrationLinkUpdate,
        {
          firstName: user.firstName,
          lastName: user.lastName,
          portalEndpoint,
          ...(user.encodedMembershipInvtnSignedToken ? { encodedMembershipInvtnSignedToken: user.encodedMembershipInvtnSignedToken } : {}),
        },
      );
    },

    /** The names typed when this registration link was asked for, to prefill the account form; none when its flow cannot say. */
    async registrationNames(email: string, expiresOn: string): Promise<{ firstName: string; lastName: string } | undefined> {
      return (await queryFlow(deps, emailValidationWorkflowId(email), registrationNamesQuery, [expiresOn], NAMES_WITHIN_MS)) ?? undefined;
    },

    /**
     * Standard account creation from a validated email; when the carried
     * invitation was sent to that email, the flow binds it to the new account.
     * Returns the account and the invitation that was bound, if any.
     */
    async createAccount(setup: {
      firstName: string;
      lastName: string;
      username: string;
      password: string;
      emailValidationSignedToken: unknown;
      encodedMembershipInvtnSignedToken?: string;
    }): Promise<{ accountId: number; invitation?: MembershipInvitation }> {
      let validated: records.EmailValidationSignedToken;
      try {
        validated = records.verifyEmailValidationToken(signer, setup.emailValidationSignedToken);
      } catch (err) {
        tokenRefusal(err);
      }
      const username = setup.username.trim().toLowerCase();
      if (!USERNAME.test(username)) throw new HttpError(400, 'username: use at least 3 characters: letters, digits, dot, dash or underscore.');
      const weak = passwordProblem(setup.password);
      if (weak) throw new HttpError(400, `password: ${weak}`);
      const workflowId = emailValidationWorkflowId(validated.email);
      const existing = (await records.findAccountByEmail(db, validated.email)) ?? (await db.account.findUnique({ where: { username } }));
      if (existing && existing.email?.toLowerCase() === validated.email.toLowerCase()) {
        // Most often a retry of a request cut off mid-way: answer once the first one has bound the carried invitation;
        // until then (a worker restarting), "try again", so that a client never joins before its invitation is bound.
        if (!(await flowClosed(deps, workflowId, timeLeft(deps)))) throw tryAgainInAMoment();
        throw new HttpError(409, 'This email validation was already used: an account exists for this address.', { code: InvitationFailure.accountExists.code });
      }
      if (existing) throw new HttpError(409, `The username "${username}" is already taken.`, { code: InvitationFailure.usernameTaken.code });
      const invitationId = carriedInvitationId(setup.encodedMembershipInvtnSignedToken);
      const account = {
        username,
        firstName: setup.firstName.trim(),
        lastName: setup.lastName.trim(),
        // Only the hash goes to the workflow: the password itself never reaches Temporal's history.
        passwordHash: await hashPassword(setup.password),
        ...(invitationId !== undefined ? { invitationId } : {}),
      };
      // The flow binds the carried invitation itself once the account exists, so the binding does not depend on this request finishing.
      // Keyed by the validation token and username: a retried sign-up is the same one, and answers with the account it made.
      return updateFlow(deps, InvitationFailure, workflowId, createValidatedAccountUpdate, [account], () => new HttpError(410, 'This registration link has expired. Ask for a new one.'), keyOf('create-account', validated.hmac, username));
    },
  };
}
