import { ApplicationFailure } from '@temporalio/common';
import type { Deps } from '../deps';
import { isUniqueViolation } from '../shared/db';
import { Refusal, refused } from '../shared/failures';
import { passwordFingerprint, passwordResetToken, TrialMail, verificationToken } from '../domain/trial';
import { TrialFailure } from '../workflows/trial/messages';

/** Side effects of the free-trial flow. Each may run more than once: writes are upserts or guarded, mails have stable keys. */
export function createTrialActivities({ config, db, mailer, signer }: Deps) {
  const loginUrl = `${config.publicUrl}/login`;
  const passwordResetUrl = `${config.publicUrl}/trial/password-reset`;

  /**
   * Stores the registration and the hash of its verification token (a new
   * registration replaces an unverified one). An address that already has an
   * account gets no trial: nothing is stored and the flow says "welcome back".
   */
  async function recordTrialRegistration(input: {
    email: string;
    firstName: string;
    lastName: string;
    company: string;
    tokenNonce: string;
    tokenExpiresAt: string;
  }): Promise<{ tokenHash: string; accountExists?: true }> {
    const { tokenHash } = verificationToken(signer, input);
    if ((await db.account.count({ where: { email: input.email } })) > 0) return { tokenHash, accountExists: true };
    const data = {
      status: 'pending_verification',
      firstName: input.firstName,
      lastName: input.lastName,
      company: input.company,
      tokenHash,
      tokenExpiresAt: new Date(input.tokenExpiresAt),
      usedAt: null,
      accountId: null,
      trialEndsAt: null,
      convertedAt: null,
    };
    await db.trial.upsert({ where: { email: input.email }, create: { email: input.email, ...data }, update: data });
    return { tokenHash };
  }

  async function sendVerificationEmail(input: { email: string; firstName: string; tokenNonce: string; tokenExpiresAt: string; sequence: number }): Promise<void> {
    const { token } = verificationToken(signer, input);
    await mailer.send({
      kind: TrialMail.verification,
      key: `trial/${input.email}/${input.tokenNonce}/verification/${input.sequence}`,
      to: input.email,
      subject: 'Verify your email to start your free trial 🚀',
      paragraphs: [
        // No name the requester typed: anyone can ask for this mail to any address, so it carries none of their words.
        'Hello,',
        'Thanks for your interest! Confirm this address and choose a password to start your free trial.',
        `This link works once and until ${formatDate(input.tokenExpiresAt)}.`,
      ],
      action: { label: 'Verify my email', url: `${config.publicUrl}/trial/register?token=${token}` },
      footer: 'You receive this mail because someone asked for a free trial with this address. If it was not you, ignore it.',
    });
  }

  /** The "Welcome back" mail for an address that already has an account (the flow counts it against the hourly limit). */
  async function sendWelcomeBackEmail(input: { email: string; requestId: string }): Promise<{ sent: boolean }> {
    await mailer.send({
      kind: TrialMail.welcomeBack,
      key: `trial/${input.email}/welcome-back/${input.requestId}`,
      to: input.email,
      subject: `Welcome back to ${config.appName}`,
      paragraphs: [
        'Someone asked for a free trial with this address, but you already have an account.',
        'Log in with your password. If you forgot it, you can choose a new one here:',
        passwordResetUrl,
      ],
      action: { label: 'Log in', url: loginUrl },
      footer: 'If you did not ask for this, ignore this mail: nothing was changed.',
    });
    return { sent: true };
  }

  /** Mails a reset link when the address has an account; nothing otherwise (the API answered the same either way). */
  async function sendPasswordResetEmail(input: { email: string; requestId: string }): Promise<{ sent: boolean }> {
    const account = await db.account.findUnique({ where: { email: input.email } });
    if (!account) return { sent: false };
    const token = passwordResetToken(signer, account);
    await mailer.send({
      kind: TrialMail.passwordReset,
      key: `trial/${input.email}/password-reset/${input.requestId}`,
      to: input.email,
      subject: 'Choose a new password',
      paragraphs: ['Someone asked to reset the password of your account.', 'The link works once, for one hour.'],
      action: { label: 'Choose a new password', url: `${config.publicUrl}/trial/password-reset/new?token=${token}` },
      footer: 'If you did not ask for this, ignore this mail: your password stays as it is.',
    });
    return { sent: true };
  }

  /**
   * Creates the account once: a retry finds the account this trial already
   * made. An account made by another flow for the address is a refusal, not
   * a fault: it comes back as a value.
   */
  async function createTrialAccount(input: {
    email: string;
    passwordHash: string;
    firstName: string;
    lastName: string;
    trialEndsAt: string;
  }): Promise<{ accountId: number } | Refusal> {
    // The usual case writes straight away; the registration is read only when the writes are refused.
    try {
      return await db.$transaction(async (tx) => {
        const account = await tx.account.create({
          data: { email: input.email, username: input.email, firstName: input.firstName, lastName: input.lastName, passwordHash: input.passwordHash },
        });
        const { count } = await tx.trial.updateMany({
          where: { email: input.email },
          data: { accountId: account.id, usedAt: new Date(), status: 'active', trialEndsAt: new Date(input.trialEndsAt), firstName: input.firstName, lastName: input.lastName },
        });
        if (count === 0) throw new NoRegistration(); // rolls the account back
        return { accountId: account.id };
      });
    } catch (err) {
      if (!(err instanceof NoRegistration) && !isUniqueViolation(err)) throw err;
      const trial = await db.trial.findUnique({ where: { email: input.email } });
      if (!trial) throw ApplicationFailure.nonRetryable(`No trial registration for ${input.email}.`, 'TrialMissing');
      // A retry after the writes were committed finds the account this trial already made.
      if (trial.accountId !== null) return { accountId: trial.accountId };
      if (err instanceof NoRegistration) throw err;
      return refused(TrialFailure.accountExists, 'An account with this address already exists: log in instead.');
    }
  }

  /** The small app, owned by the account with the owner's permission; one per account. */
  async function provisionTrialApp(input: { email: string; accountId: number; company?: string }): Promise<{ appId: number; appName: string }> {
    // The workflow passes the company it holds; runs scheduled without it read the registration.
    const company = input.company ?? (await db.trial.findUnique({ where: { email: input.email } }))?.company;
    const name = `${company || input.email.split('@')[0]} trial app`;
    const app = await db.app.upsert({
      where: { ownerAccountId: input.accountId },
      create: { ownerAccountId: input.accountId, name, ownerPermission: 'owner' },
      update: {},
    });
    return { appId: app.id, appName: app.name };
  }

  /** A mail about the trial's end, once per end date (an extension gets its own). */
  function endMail(kind: (typeof TrialMail)['reminder' | 'expired'], input: { email: string; trialEndsAt: string }, subject: string, paragraphs: string[], action?: { label: string; url: string }) {
    const suffix = kind === TrialMail.reminder ? 'reminder' : 'expired';
    return mailer.send({ kind, key: `trial/${input.email}/${suffix}/${input.trialEndsAt}`, to: input.email, subject, paragraphs, ...(action ? { action } : {}) });
  }

  async function sendTrialReminderEmail(input: { email: string; trialEndsAt: string }): Promise<void> {
    await endMail(TrialMail.reminder, input, 'Your free trial ends soon', [`Your free trial ends on ${formatDate(input.trialEndsAt)}.`, 'Contact us before then to keep your app and your data.'], {
      label: 'Open my app',
      url: loginUrl,
    });
  }

  /** The trial's end: status expired and the owner's access to the app revoked, in one transaction. */
  async function expireTrial(input: { email: string; accountId: number }): Promise<void> {
    await db.$transaction([
      db.trial.update({ where: { email: input.email }, data: { status: 'expired' } }),
      db.app.updateMany({ where: { ownerAccountId: input.accountId, ownerPermission: { not: 'none' } }, data: { ownerPermission: 'none', accessRevokedAt: new Date() } }),
    ]);
  }

  async function sendTrialExpiredEmail(input: { email: string; trialEndsAt: string }): Promise<void> {
    await endMail(TrialMail.expired, input, 'Your free trial has ended', [
      `Your free trial ended on ${formatDate(input.trialEndsAt)} and access to your app is now closed.`,
      'Your app is kept: contact us to extend the trial or to subscribe, and you get it back as it was.',
    ]);
  }

  async function recordTrialExtension(input: { email: string; accountId: number; trialEndsAt: string }): Promise<void> {
    await db.$transaction([
      db.trial.update({ where: { email: input.email }, data: { status: 'active', trialEndsAt: new Date(input.trialEndsAt) } }),
      restoreAppAccess(input.accountId),
    ]);
  }

  async function recordTrialConversion(input: { email: string; accountId: number }): Promise<void> {
    const trial = await db.trial.findUnique({ where: { email: input.email } });
    await db.$transaction([
      db.trial.update({ where: { email: input.email }, data: { status: 'converted', convertedAt: trial?.convertedAt ?? new Date() } }),
      restoreAppAccess(input.accountId),
    ]);
  }

  /** The link was never used in time: the token is dead. */
  async function markTrialUnverified(input: { email: string; tokenHash: string }): Promise<void> {
    await db.trial.updateMany({ where: { email: input.email, tokenHash: input.tokenHash, usedAt: null }, data: { status: 'unverified' } });
  }

  /**
   * The password chosen behind a reset link: set only while the password is
   * still the one the link was issued for (so a link works once), and every
   * earlier session ends with it. A retry after it was set finds its own hash.
   */
  async function recordNewPassword(input: { accountId: number; passwordFingerprint: string; passwordHash: string }): Promise<{ username?: string }> {
    const account = await db.account.findUnique({ where: { id: input.accountId } });
    if (!account) return {};
    if (account.passwordHash === input.passwordHash) return { username: account.username };
    if (passwordFingerprint(account.passwordHash) !== input.passwordFingerprint) return {};
    const { count } = await db.account.updateMany({
      where: { id: account.id, passwordHash: account.passwordHash },
      data: { passwordHash: input.passwordHash, sessionGeneration: { increment: 1 } },
    });
    return count === 1 ? { username: account.username } : {};
  }

  function restoreAppAccess(accountId: number) {
    return db.app.updateMany({ where: { ownerAccountId: accountId }, data: { ownerPermission: 'owner', accessRevokedAt: null } });
  }

  return {
    recordTrialRegistration,
    sendVerificationEmail,
    sendWelcomeBackEmail,
    sendPasswordResetEmail,
    createTrialAccount,
    provisionTrialApp,
    sendTrialReminderEmail,
    expireTrial,
    sendTrialExpiredEmail,
    recordTrialExtension,
    recordTrialConversion,
    markTrialUnverified,
    recordNewPassword,
  };
}

/** Thrown inside the account transaction when the trial row is missing, so nothing is written. */
class NoRegistration extends Error {}

function formatDate(iso: string): string {
  return new Date(iso).toUTCString().replace(/:\d\d GMT$/, ' UTC');
}
