import { ApplicationFailure } from '@temporalio/common';
import type { Deps } from '../deps';
import { isUniqueViolation } from '../shared/db';
import { TokenSigner } from '../shared/tokens';
import {
  AccountCreationToken,
  defaultEndpoints,
  displayName,
  EMAIL_VALIDATION_TOKEN,
  EmailValidationSignedToken,
  findAccount,
  findInvitation,
  findTeam,
  invitationToApi,
  signInviteeVerification,
  signMembershipInvitationToken,
} from '../services/invitations';
import type { BoundVia, InvitationInput, MembershipInvitation, NewAccount, ValidationEmailRequest } from '../workflows/invitation/messages';
import { Refusal } from '../workflows/invitation/messages';

/** The invitation flow's side effects. Each may run more than once: writes are conditional or keyed, mails have stable keys. */
export function createInvitationActivities({ config, db, mailer, signer }: Deps) {
  async function loadInvitation(invitationId: number) {
    const invitation = await findInvitation(db, invitationId);
    if (!invitation) throw ApplicationFailure.nonRetryable(`Invitation ${invitationId} is not recorded.`);
    const [team, inviter] = await Promise.all([findTeam(db, invitation.teamId), findAccount(db, invitation.createdBy)]);
    return { invitation, teamName: team?.name ?? `team ${invitation.teamId}`, inviterName: inviter ? displayName(inviter) : 'A team admin' };
  }

  async function recordEvent(key: string, invitationId: number, teamId: number, kind: string): Promise<void> {
    try {
      await db.invitationEvent.create({ data: { key, invitationId, teamId, kind } });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }

  return {
    async recordInvitation(input: InvitationInput): Promise<MembershipInvitation> {
      const row = await db.membershipInvitation.upsert({
        where: { id: input.invitationId },
        update: {},
        create: {
          id: input.invitationId,
          teamId: input.teamId,
          createdBy: input.createdBy,
          inviteeId: input.inviteeId ?? null,
          inviteeEmail: input.inviteeEmail ?? null,
          message: input.message ?? null,
          expiresOn: input.expiresOn ? new Date(input.expiresOn) : null,
        },
      });
      return invitationToApi(row);
    },

    async sendInvitationEmail({ invitationId, acceptInvitationEndpoint }: { invitationId: number; acceptInvitationEndpoint: string }): Promise<void> {
      const { invitation, teamName, inviterName } = await loadInvitation(invitationId);
      const token = signMembershipInvitationToken(signer, config, invitation);
      await mailer.send({
        kind: 'membership-invitation',
        key: `invitation/${invitationId}/invite`,
        to: invitation.inviteeEmail!,
        subject: `You are invited to join ${teamName}`,
        paragraphs: [
          `${inviterName} invited you to join the team "${teamName}".`,
          ...(invitation.message ? [`Their message: "${invitation.message}"`] : []),
          `You can join with an account you already have or create a new one. This link works until ${token.expiresOn.slice(0, 10)}.`,
        ],
        action: { label: `Join ${teamName}`, url: acceptInvitationEndpoint + TokenSigner.serialize(token) },
        footer: 'You received this mail because a team admin invited this address. If you do not want to join, ignore it.',
      });
    },

    /** An invitation to an existing account: a notice that points to the team page with its one-click Join. */
    async sendInvitationNotification({ invitationId }: { invitationId: number }): Promise<void> {
      const { invitation, teamName, inviterName } = await loadInvitation(invitationId);
      const invitee = await findAccount(db, invitation.inviteeId!);
      if (!invitee) return; // the API checked the account; nothing to notify if it is gone
      await mailer.send({
        kind: 'membership-invitation-notice',
        key: `invitation/${invitationId}/notify`,
        to: invitee.email,
        subject: `You are invited to join ${teamName}`,
        paragraphs: [
          `${inviterName} invited you to join the team "${teamName}".`,
          ...(invitation.message ? [`Their message: "${invitation.message}"`] : []),
        ],
        action: { label: 'Open the team page', url: defaultEndpoints(config).team(invitation.teamId) },
      });
    },

    async recordInviteeBound({ invitationId, inviteeId, via }: { invitationId: number; inviteeId: number; via: BoundVia }): Promise<MembershipInvitation> {
      await db.membershipInvitation.updateMany({ where: { id: invitationId, inviteeId: null }, data: { inviteeId, boundVia: via, boundOn: new Date() } });
      return invitationToApi((await findInvitation(db, invitationId))!);
    },

    async signInviteeVerificationToken({ invitationId, inviteeId }: { invitationId: number; inviteeId: number }) {
      return signInviteeVerification(signer, config, invitationId, inviteeId);
    },

    async recordVerificationRefused({ invitationId, teamId, sequence }: { invitationId: number; teamId: number; sequence: number }): Promise<void> {
      await recordEvent(`invitation/${invitationId}/verification-refused/${sequence}`, invitationId, teamId, 'verification_refused');
    },

    /** Seed phase 2: the owner of inviteeEmail may confirm that the signed-in account is theirs. */
    async sendIdentityVerificationEmail(args: { invitationId: number; inviteeId: number; portalEndpoint: string; sequence: number }): Promise<void> {
      const { invitation, teamName } = await loadInvitation(args.invitationId);
      const account = await findAccount(db, args.inviteeId);
      const token = signInviteeVerification(signer, config, args.invitationId, args.inviteeId);
      await mailer.send({
        kind: 'membership-invitation-verification',
        key: `invitation/${args.invitationId}/identity-verification/${args.sequence}`,
        to: invitation.inviteeEmail!,
        subject: `Confirm your invitation to ${teamName}`,
        paragraphs: [
          `Someone signed in as "${account?.username ?? 'another account'}" asked to accept the invitation to "${teamName}" that was sent to this address.`,
          'If that was you, open the link below while signed in to that account. If not, ignore this mail: nothing changes.',
        ],
        action: { label: 'Confirm and continue', url: args.portalEndpoint + TokenSigner.serialize(token) },
      });
    },

    async addInviteeToTeam({ invitationId, teamId, accountId }: { invitationId: number; teamId: number; accountId: number }): Promise<void> {
      await db.$transaction([
        db.teamMember.upsert({ where: { teamId_accountId: { teamId, accountId } }, update: {}, create: { teamId, accountId } }),
        db.membershipInvitation.updateMany({ where: { id: invitationId, joinedOn: null }, data: { joinedOn: new Date() } }),
      ]);
    },

    async recordInvitationRevoked({ invitationId }: { invitationId: number }): Promise<void> {
      await db.membershipInvitation.updateMany({ where: { id: invitationId, revokedOn: null }, data: { revokedOn: new Date() } });
    },

    async recordInvitationExpired({ invitationId }: { invitationId: number }): Promise<void> {
      await db.membershipInvitation.updateMany({ where: { id: invitationId, expiredOn: null }, data: { expiredOn: new Date() } });
    },

    /** The "Welcome" mail: its link carries an AccountCreationToken. */
    async sendEmailValidationEmail(args: ValidationEmailRequest & { email: string; sequence: number; expiresOn: string }): Promise<void> {
      const emailValidationSignedToken: EmailValidationSignedToken = signer.sign(EMAIL_VALIDATION_TOKEN, {
        email: args.email,
        createdOn: new Date(Date.parse(args.expiresOn) - config.ttl.emailValidation).toISOString(),
        expiresOn: args.expiresOn,
      });
      const envelope: AccountCreationToken = {
        emailValidationSignedToken,
        ...(args.encodedMembershipInvtnSignedToken ? { encodedMembershipInvtnSignedToken: args.encodedMembershipInvtnSignedToken } : {}),
      };
      await mailer.send({
        kind: 'account-email-validation',
        key: `account-email-validation/${args.email}/${args.expiresOn}/${args.sequence}`,
        to: args.email,
        subject: 'Welcome to flowgate',
        paragraphs: [
          `Hello ${args.firstName}, please confirm this address to create your account.`,
          `The link works for ${Math.round(config.ttl.emailValidation / 3600_000)} hours and for one account.`,
        ],
        action: { label: 'Create your account', url: args.portalEndpoint + Buffer.from(JSON.stringify(envelope)).toString('base64url') },
        footer: 'If you did not ask for an account, ignore this mail.',
      });
    },

    async createValidatedAccount(account: NewAccount & { email: string }): Promise<{ accountId: number }> {
      const username = account.username.toLowerCase();
      try {
        const created = await db.account.create({
          data: { email: account.email, username, firstName: account.firstName, lastName: account.lastName, passwordHash: account.passwordHash },
        });
        return { accountId: created.id };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
      const byEmail = await db.account.findUnique({ where: { email: account.email } });
      // A retry of this very activity finds its own row.
      if (byEmail && byEmail.username === username && byEmail.passwordHash === account.passwordHash) return { accountId: byEmail.id };
      if (byEmail) throw ApplicationFailure.create({ type: Refusal.Conflict, message: 'An account already exists for this email address.', nonRetryable: true });
      throw ApplicationFailure.create({ type: Refusal.Conflict, message: `The username "${username}" is already taken.`, nonRetryable: true });
    },
  };
}
