import { ApplicationFailure } from '@temporalio/common';
import type { Deps } from '../deps';
import { isUniqueViolation, Prisma } from '../shared/db';
import { isRefusal, Refusal, refused } from '../shared/failures';
import { TokenSigner } from '../shared/tokens';
import { LinkKind, mailableEndpoint } from '../shared/links';
import {
  AccountCreationToken,
  defaultEndpoints,
  displayName,
  EMAIL_VALIDATION_TOKEN,
  findAccountByEmail,
  RegistrationMail,
  EmailValidationSignedToken,
  findAccount,
  findInvitation,
  findTeam,
  hasOptedOutOfNotices,
  InvitationEventKind,
  invitationEndsOn,
  invitationToApi,
  signInviteeVerification,
  signMembershipInvitationToken,
  signNotificationUnsubscribe,
  verifyInvitationToken,
} from '../domain/invitation';
import { type BoundVia, InvitationFailure, type InvitationInput, type MembershipInvitation, type NewAccount, type ValidationEmailRequest } from '../workflows/invitation/messages';

const DAY_MS = 24 * 3600_000;

/** A mail sent again on a team admin's request: its number among the resends, and when it was asked for. */
type Resend = { sequence: number; issuedOn: string };

/** The invitation flow's side effects. Each may run more than once: writes are conditional or keyed, mails have stable keys. */
export function createInvitationActivities({ config, db, mailer, signer }: Deps) {
  async function loadInvitation(invitationId: number) {
    const invitation = await findInvitation(db, invitationId);
    if (!invitation) throw ApplicationFailure.nonRetryable(`Invitation ${invitationId} is not recorded.`);
    const [team, inviter] = await Promise.all([findTeam(db, invitation.teamId), findAccount(db, invitation.createdBy)]);
    // The inviter's address is shown beside their words: the team name and message are theirs, not ours.
    const inviterName = inviter ? `${displayName(inviter)} (${inviter.email})` : 'A team admin';
    return { invitation, teamName: team?.name ?? `team ${invitation.teamId}`, inviterName };
  }

  /** The endpoint a flow carries, if it is still allowed: only an allowed, normalized URL reaches a mail. */
  const endpoint = (kind: LinkKind, carried: string | undefined) => mailableEndpoint(config.linkEndpoints[kind], carried, config.defaultLinkEndpoints[kind]);

  async function recordEvent(key: string, invitationId: number, teamId: number, kind: string): Promise<void> {
    try {
      await db.invitationEvent.create({ data: { key, invitationId, teamId, kind } });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }

  /** A registration that carries an invitation: counted for the invitation's statistics (the API verified its token). */
  async function countRegistrationFromInvitation(encoded: string | undefined, mailKey: string): Promise<void> {
    if (!encoded) return;
    let invitationId: number;
    try {
      invitationId = Number(verifyInvitationToken(signer, TokenSigner.parse(encoded)).membershipInvitationId);
    } catch {
      return; // not genuine (e.g. signed with a secret since retired): nothing to count
    }
    const invitation = await findInvitation(db, invitationId);
    if (invitation) await recordEvent(`invitation/${invitationId}/email-validation/${mailKey}`, invitationId, invitation.teamId, InvitationEventKind.emailValidationRequested);
  }

  /**
   * Counts one invitation mail within the daily caps per inviter, per team and
   * per invitee address (INVITATIONS_PER_*_PER_DAY), inside `tx`. The caps'
   * advisory locks are taken first, so mails counted at once cannot pass a cap
   * together; a mail already counted (a retried step) counts once. Returns the
   * refusal over a cap, or undefined once the mail is counted.
   */
  async function countWithinCaps(tx: Prisma.TransactionClient, mail: { key: string; invitationId: number; inviterId: number; teamId: number; address: string }): Promise<Refusal | undefined> {
    const { limits } = config;
    const locks = [`invitations-by:${mail.inviterId}`, `invitations-team:${mail.teamId}`, `invitations-to:${mail.address}`];
    for (const lock of locks.sort()) await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${lock}))`;
    if (await tx.invitationMail.findUnique({ where: { key: mail.key } })) return undefined;
    const since = { countedOn: { gte: new Date(Date.now() - DAY_MS) } };
    const [byInviter, byTeam, toAddress] = await Promise.all([
      tx.invitationMail.count({ where: { inviterId: mail.inviterId, ...since } }),
      tx.invitationMail.count({ where: { teamId: mail.teamId, ...since } }),
      tx.invitationMail.count({ where: { address: mail.address, ...since } }),
    ]);
    const reached =
      byInviter >= limits.invitationsPerInviterPerDay ? `You have sent the most invitation mails allowed in a day (${limits.invitationsPerInviterPerDay}).`
      : byTeam >= limits.invitationsPerTeamPerDay ? `This team has sent the most invitation mails allowed in a day (${limits.invitationsPerTeamPerDay}).`
      : toAddress >= limits.invitationsPerInviteePerDay ? 'This address has received the most invitation mails allowed in a day.'
      : undefined;
    if (reached) return refused(InvitationFailure.limitReached, `${reached} Try again tomorrow.`);
    await tx.invitationMail.create({ data: mail });
    return undefined;
  }

  /** Where an invitation's mails go, as the caps count them: its address, or its account's. */
  async function mailedAddress(invitation: { inviteeEmail?: string | null; inviteeId?: number | null }): Promise<string> {
    if (invitation.inviteeEmail) return invitation.inviteeEmail;
    return (await findAccount(db, invitation.inviteeId!))?.email ?? `account ${invitation.inviteeId}`;
  }

  /** The key of an invitation's mail: its first one, or a resend (as the mail itself is keyed). */
  const mailKey = (invitation: { id: number; inviteeEmail?: string | null }, resendSequence?: number) =>
    `invitation/${invitation.id}/${invitation.inviteeEmail ? 'invite' : 'notify'}${resendSequence === undefined ? '' : `/resend/${resendSequence}`}`;

  return {
    /**
     * Records the invitation with its first mail counted within the daily
     * caps (countWithinCaps): both in one transaction, so a burst of
     * invitations passes a cap no more than resends do. A retry finds its own
     * row. Over a cap is a refusal, not a fault: it comes back as a value.
     */
    async recordInvitation(input: InvitationInput): Promise<MembershipInvitation | Refusal> {
      const existing = await findInvitation(db, input.invitationId);
      if (existing) return invitationToApi(existing);
      const address = await mailedAddress(input);
      const mail = { key: mailKey({ id: input.invitationId, inviteeEmail: input.inviteeEmail }), invitationId: input.invitationId, inviterId: input.createdBy, teamId: input.teamId, address };
      try {
        const row = await db.$transaction(async (tx) => {
          const overCap = await countWithinCaps(tx, mail);
          if (overCap) return overCap;
          return tx.membershipInvitation.create({
            data: {
              id: input.invitationId,
              teamId: input.teamId,
              createdBy: input.createdBy,
              inviteeId: input.inviteeId ?? null,
              inviteeEmail: input.inviteeEmail ?? null,
              message: input.message ?? null,
              expiresOn: input.expiresOn ? new Date(input.expiresOn) : null,
            },
          });
        });
        return isRefusal(row) ? row : invitationToApi(row);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        return invitationToApi((await findInvitation(db, input.invitationId))!);
      }
    },

    /**
     * A resend, before its mail: counted within the same daily caps as the
     * invitation's first mail (for the invitation's inviter, team and
     * address), or refused once one is reached.
     */
    async countInvitationResend({ invitationId, sequence }: { invitationId: number; sequence: number }): Promise<{ counted: true } | Refusal> {
      const invitation = await findInvitation(db, invitationId);
      if (!invitation) throw ApplicationFailure.nonRetryable(`Invitation ${invitationId} is not recorded.`);
      const mail = { key: mailKey(invitation, sequence), invitationId, inviterId: invitation.createdBy, teamId: invitation.teamId, address: await mailedAddress(invitation) };
      return (await db.$transaction((tx) => countWithinCaps(tx, mail))) ?? { counted: true };
    },

    /** The invitation mail; a resend (a team admin's) carries a fresh link, issued at the resend's time, for the same invitation. */
    async sendInvitationEmail({ invitationId, acceptInvitationEndpoint, resend }: { invitationId: number; acceptInvitationEndpoint: string; resend?: Resend }): Promise<void> {
      const { invitation, teamName, inviterName } = await loadInvitation(invitationId);
      const token = signMembershipInvitationToken(signer, config, invitation, resend ? new Date(resend.issuedOn) : undefined);
      await mailer.send({
        kind: 'membership-invitation',
        key: resend ? `invitation/${invitationId}/invite/resend/${resend.sequence}` : `invitation/${invitationId}/invite`,
        to: invitation.inviteeEmail!,
        subject: `You are invited to join ${teamName}`,
        paragraphs: [
          `${inviterName} invited you to join the team "${teamName}".`,
          ...(invitation.message ? [`Their message: "${invitation.message}"`] : []),
          `You can join with an account you already have or create a new one. This link works until ${token.expiresOn.slice(0, 10)}.`,
        ],
        action: { label: `Join ${teamName}`, url: endpoint('acceptInvitation', acceptInvitationEndpoint) + TokenSigner.serialize(token) },
        footer: 'You received this mail because a team admin invited this address. If you do not want to join, ignore it.',
      });
    },

    /**
     * An invitation to an existing account: a notice that points to the team
     * page with its one-click Join, and a way to get no more notices (none
     * once the account has asked for that).
     */
    async sendInvitationNotification(args: { invitationId: number; notificationUnsubscribeEndpoint?: string; resend?: Resend }): Promise<void> {
      const { invitation, teamName, inviterName } = await loadInvitation(args.invitationId);
      const invitee = await findAccount(db, invitation.inviteeId!);
      if (!invitee) return; // the API checked the account; nothing to notify if it is gone
      if (await hasOptedOutOfNotices(db, invitee.id)) return;
      const unsubscribeEndpoint = endpoint('notificationUnsubscribe', args.notificationUnsubscribeEndpoint);
      await mailer.send({
        kind: 'membership-invitation-notice',
        key: args.resend ? `invitation/${args.invitationId}/notify/resend/${args.resend.sequence}` : `invitation/${args.invitationId}/notify`,
        to: invitee.email,
        subject: `You are invited to join ${teamName}`,
        paragraphs: [
          `${inviterName} invited you to join the team "${teamName}".`,
          ...(invitation.message ? [`Their message: "${invitation.message}"`] : []),
        ],
        action: { label: 'Open the team page', url: defaultEndpoints(config).team(invitation.teamId) },
        unsubscribe: {
          url: unsubscribeEndpoint + TokenSigner.serialize(signNotificationUnsubscribe(signer, config, invitee.id)),
          // Our own page takes the one-click POST; another endpoint is the caller's to serve.
          oneClick: unsubscribeEndpoint === config.defaultLinkEndpoints.notificationUnsubscribe,
        },
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
      await recordEvent(`invitation/${invitationId}/verification-refused/${sequence}`, invitationId, teamId, InvitationEventKind.verificationRefused);
    },

    /** Synapse's phase 2: the owner of inviteeEmail may confirm that the signed-in account is theirs. */
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
        action: { label: 'Confirm and continue', url: endpoint('inviteeVerification', args.portalEndpoint) + TokenSigner.serialize(token) },
      });
    },

    async addInviteeToTeam({ invitationId, teamId, accountId }: { invitationId: number; teamId: number; accountId: number }): Promise<void> {
      await db.$transaction([
        db.teamMember.upsert({ where: { teamId_accountId: { teamId, accountId } }, update: {}, create: { teamId, accountId } }),
        db.membershipInvitation.updateMany({ where: { id: invitationId, joinedOn: null }, data: { joinedOn: new Date() } }),
      ]);
    },

    /** When the invitation ends, as its link does: its expiresOn, or INVITATION_MAX_LIFETIME after it was made. */
    async readInvitationEnd({ invitationId }: { invitationId: number }): Promise<string> {
      const invitation = await findInvitation(db, invitationId);
      if (!invitation) throw ApplicationFailure.nonRetryable(`Invitation ${invitationId} is not recorded.`);
      return invitationEndsOn(config, invitation).toISOString();
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
      // One key for both mails: a retry after the account appeared still sends one mail.
      const key = `account-email-validation/${args.email}/${args.expiresOn}/${args.sequence}`;
      await countRegistrationFromInvitation(args.encodedMembershipInvtnSignedToken, key);
      // The API answers every address alike; the owner of an existing account learns here, by mail, to sign in.
      if (await findAccountByEmail(db, args.email)) {
        await mailer.send({
          kind: RegistrationMail.accountExists,
          key,
          to: args.email,
          subject: 'You already have an account',
          paragraphs: [
            'Someone asked to create an account with this address, but you already have one.',
            'Sign in with your password. If you forgot it, you can choose a new one here:',
            defaultEndpoints(config).passwordReset,
          ],
          action: { label: 'Sign in', url: defaultEndpoints(config).signIn },
          footer: 'If you did not ask for this, ignore this mail: nothing was changed.',
        });
        return;
      }
      await mailer.send({
        kind: RegistrationMail.link,
        key,
        to: args.email,
        subject: `Welcome to ${config.appName}`,
        paragraphs: [
          // No name the requester typed: anyone can ask for this mail to any address, so it carries none of their words.
          'Hello, please confirm this address to create your account.',
          `The link works for ${Math.round(config.ttl.emailValidation / 3600_000)} hours and for one account.`,
        ],
        action: { label: 'Create your account', url: endpoint('accountCreation', args.portalEndpoint) + Buffer.from(JSON.stringify(envelope)).toString('base64url') },
        footer: 'If you did not ask for an account, ignore this mail.',
      });
    },

    /** The account for a validated address; an address or username already taken comes back as a refusal value. */
    async createValidatedAccount(account: NewAccount & { email: string }): Promise<{ accountId: number } | Refusal> {
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
      if (byEmail) return refused(InvitationFailure.accountExists, 'An account already exists for this email address.');
      return refused(InvitationFailure.usernameTaken, `The username "${username}" is already taken.`);
    },
  };
}
