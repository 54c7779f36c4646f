// The free trial's records and links, as the activities write them and the
// API reads them: token formats, mail kinds, read models. Nothing here
// speaks HTTP.
import type { Db } from '../shared/db';
import { emailAddress } from '../shared/mail';
import { DeadLink } from '../shared/links';
import { hashKey, PublicKeySigner, TokenError, TokenSigner } from '../shared/tokens';
import { Refused } from '../shared/failures';
import { MAILS_PER_HOUR, PASSWORD_RESET_TTL_MS, TrialFailure } from '../workflows/trial/messages';

/** Token types of this flow; the type is bound into each token's MAC. */
export const TRIAL_VERIFICATION = 'trial_verification';
export const TRIAL_PASSWORD_RESET = 'trial_password_reset';

/** Mail kinds, as recorded in the SentEmail ledger. */
export const TrialMail = {
  verification: 'trial.verification',
  welcomeBack: 'trial.welcome_back',
  reminder: 'trial.reminder',
  expired: 'trial.expired',
  passwordReset: 'trial.password_reset',
} as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A trial's username is its email address, normalized as every address is. */
export const trialUsername = emailAddress();

/* ---- the verification link ---- */

interface VerificationTokenFields {
  [key: string]: string | number;
  u: string;
  n: string;
  exp: number;
}

/**
 * The TRIAL_VERIFICATION token for one registration. It is derived (HMAC)
 * from the workflow's nonce, so a retried mail activity sends the very same
 * link; only its hash is stored.
 */
export function verificationToken(signer: TokenSigner, input: { email: string; tokenNonce: string; tokenExpiresAt: string }): { token: string; tokenHash: string } {
  const fields: VerificationTokenFields = { u: input.email, n: input.tokenNonce, exp: Date.parse(input.tokenExpiresAt) };
  const token = TokenSigner.serialize(signer.sign(TRIAL_VERIFICATION, fields));
  return { token, tokenHash: hashKey(token) };
}

/** A verification link's token: whose it is, or a dead link (forged or expired). Single use is the workflow's to check. */
export function readVerificationToken(signer: TokenSigner, token: string): { email: string; tokenHash: string } {
  try {
    const fields = signer.parseAndVerify<VerificationTokenFields>(TRIAL_VERIFICATION, token);
    return { email: String(fields.u), tokenHash: hashKey(token) };
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    if (err.problem === 'expired') throw trialLinkDead('expired', 'This link has expired.');
    throw trialLinkDead('unknown', 'This link is not valid.');
  }
}

/** How a verification link ends, with what the person can do next. */
export function trialLinkDead(state: 'unknown' | 'expired' | 'used', reason: string): DeadLink {
  if (state === 'used') return new DeadLink('used', reason, { text: 'Your account exists:', href: '/login', label: 'log in' });
  if (state === 'expired') return new DeadLink('expired', reason, { text: 'Ask for a new free trial link with the same address: the new mail replaces this one.' });
  return new DeadLink('unknown', reason, { text: 'Check that you copied the whole link from the mail.' });
}

/* ---- the registration mail limit ---- */

/** Times of registration mails (verification or "welcome back") an address got in the last hour: a new run counts from them. */
export async function registrationMailTimes(db: Db, email: string, now = Date.now()): Promise<string[]> {
  return mailTimes(db, [TrialMail.verification, TrialMail.welcomeBack], email, now - HOUR);
}

export async function passwordResetMailTimes(db: Db, email: string, now = Date.now()): Promise<string[]> {
  return mailTimes(db, [TrialMail.passwordReset], email, now - HOUR);
}

async function mailTimes(db: Db, kinds: string[], email: string, since: number): Promise<string[]> {
  const rows = await db.sentEmail.findMany({
    where: { kind: { in: kinds }, recipient: email.toLowerCase(), sentAt: { gte: new Date(since) } },
    select: { sentAt: true },
    orderBy: { sentAt: 'desc' },
    take: MAILS_PER_HOUR,
  });
  return rows.map((r) => r.sentAt.toISOString());
}

/* ---- read models ---- */

export type PublicTrialStatus = 'pending_verification' | 'active' | 'expired' | 'converted';

export interface TrialInfos {
  username: string;
  status: PublicTrialStatus;
  trialEndsAt: string | null;
  /** Whole days left (rounded up); 0 once expired; null before the trial starts and after conversion. */
  daysLeft: number | null;
  expired: boolean;
}

/**
 * What the login check (Toucan's TrialExpirationAuthenticator in Keycloak) needs. A
 * trial whose end has passed reads as expired even in the moment before the
 * workflow records it. Undefined: no trial for this username (or one that
 * was never verified).
 */
export async function readTrialInfos(db: Db, username: string, now = new Date()): Promise<TrialInfos | undefined> {
  const trial = await db.trial.findUnique({ where: { email: username } });
  if (!trial || trial.status === 'unverified') return undefined;
  const endsAt = trial.trialEndsAt;
  const expired = trial.status === 'expired' || (trial.status === 'active' && !!endsAt && endsAt <= now);
  const status: PublicTrialStatus = expired ? 'expired' : (trial.status as PublicTrialStatus);
  const daysLeft = status === 'active' && endsAt ? Math.max(0, Math.ceil((endsAt.getTime() - now.getTime()) / DAY)) : status === 'expired' ? 0 : null;
  return { username: trial.email, status, trialEndsAt: endsAt ? endsAt.toISOString() : null, daysLeft, expired };
}

export interface TrialHome {
  username: string;
  firstName: string;
  app: { id: number; name: string; access: boolean } | undefined;
  infos: TrialInfos | undefined;
}

/** The signed-in account's app and trial, for the page shown after login. */
export async function readTrialHome(db: Db, accountId: number): Promise<TrialHome | undefined> {
  const account = await db.account.findUnique({ where: { id: accountId } });
  if (!account) return undefined;
  const app = await db.app.findUnique({ where: { ownerAccountId: accountId } });
  return {
    username: account.username,
    firstName: account.firstName,
    app: app ? { id: app.id, name: app.name, access: app.ownerPermission !== 'none' } : undefined,
    infos: await readTrialInfos(db, account.email),
  };
}

/* ---- the embed token ---- */

/** Who embed tokens are for: the embedding party checks this audience. */
export const EMBED_AUDIENCE = 'trial-app-embed';

/**
 * A short-lived JWT that lets the owner's small app be embedded; refused once
 * the trial has expired. Signed with Ed25519: the embedding party verifies it
 * with the public keys at /.well-known/jwks.json and can mint nothing.
 */
export async function issueEmbedToken(
  deps: { db: Db; embedSigner: PublicKeySigner; ttlMs: number; issuer: string },
  request: { accountId: number; username: string; appId: number },
  now = Date.now(),
): Promise<{ token: string; expiresAt: string }> {
  const account = await deps.db.account.findUnique({ where: { id: request.accountId } });
  if (!account || account.username !== request.username) throw new Refused(TrialFailure.notYours, 'The access token belongs to another user.');
  const app = await deps.db.app.findUnique({ where: { id: request.appId } });
  if (!app || app.ownerAccountId !== account.id) throw new Refused(TrialFailure.unknownApp, 'No such app for this user.');
  const infos = await readTrialInfos(deps.db, account.email, new Date(now));
  if (app.ownerPermission === 'none' || infos?.expired) throw new Refused(TrialFailure.trialExpired, 'The free trial has expired.');
  const exp = now + deps.ttlMs;
  const token = await deps.embedSigner.sign({ app: app.id }, { subject: String(account.id), audience: EMBED_AUDIENCE, issuer: deps.issuer, expiresAt: exp });
  return { token, expiresAt: new Date(Math.floor(exp / 1000) * 1000).toISOString() };
}

/* ---- the password-reset link ---- */

interface PasswordResetFields {
  [key: string]: string | number;
  sub: number;
  /** Fingerprint of the password hash the link was issued for: once the password changes, the link is spent. */
  pw: string;
  exp: number;
}

export function passwordFingerprint(passwordHash: string): string {
  return hashKey(passwordHash).slice(0, 24);
}

export function passwordResetToken(signer: TokenSigner, account: { id: number; passwordHash: string }, now = Date.now()): string {
  return TokenSigner.serialize(signer.sign(TRIAL_PASSWORD_RESET, { sub: account.id, pw: passwordFingerprint(account.passwordHash), exp: now + PASSWORD_RESET_TTL_MS }));
}

/** The account a reset link is for, or a dead link: forged, expired, or used (the password has changed since). */
export async function readPasswordResetToken(db: Db, signer: TokenSigner, token: string): Promise<{ accountId: number; email: string; username: string; passwordFingerprint: string }> {
  const dead = (state: 'unknown' | 'expired' | 'used', reason: string) =>
    new DeadLink(state, reason, state === 'used' ? { text: 'Your new password is set:', href: '/login', label: 'log in' } : { text: 'Ask for a new one:', href: '/trial/password-reset', label: 'reset your password' });
  let fields: PasswordResetFields;
  try {
    fields = signer.parseAndVerify<PasswordResetFields>(TRIAL_PASSWORD_RESET, token);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    if (err.problem === 'expired') throw dead('expired', 'This password-reset link has expired.');
    throw dead('unknown', 'This password-reset link is not valid.');
  }
  const account = await db.account.findUnique({ where: { id: Number(fields.sub) } });
  if (!account) throw dead('unknown', 'This password-reset link is not valid.');
  const fingerprint = passwordFingerprint(account.passwordHash);
  if (fields.pw !== fingerprint) throw dead('used', 'This password-reset link was already used.');
  return { accountId: account.id, email: account.email, username: account.username, passwordFingerprint: fingerprint };
}
