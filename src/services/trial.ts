import { emailAddress } from '../shared/mail';
import type { Db } from '../shared/db';
import { hashKey, PublicKeySigner, TokenError, TokenSigner } from '../shared/tokens';

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

export { MAILS_PER_HOUR } from '../workflows/trial/messages';
const DAY = 24 * 3_600_000;

/** A trial's username is its email address, normalized as every address is. */
export const trialUsername = emailAddress();

export function trialWorkflowId(email: string): string {
  return `trial/${email}`;
}

export function passwordResetWorkflowId(email: string): string {
  return `trial/${email}/password-reset`;
}

/** One "welcome back" flow per address at a time: a burst of requests collapses into the running one. */
export function welcomeBackWorkflowId(email: string): string {
  return `trial/${email}/welcome-back`;
}

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

/** Checks MAC, type and expiry of a verification token (throws TokenError) and returns whose it is. */
export function readVerificationToken(signer: TokenSigner, token: string): { email: string; tokenHash: string } {
  const fields = signer.parseAndVerify<VerificationTokenFields>(TRIAL_VERIFICATION, token);
  return { email: String(fields.u), tokenHash: hashKey(token) };
}

export async function accountExists(db: Db, email: string): Promise<boolean> {
  return (await db.account.count({ where: { email } })) > 0;
}

/** Mails that count against the "3 per address per hour" throttle of registration, counted in the mail ledger with one query. */
export async function registrationMailsSince(db: Db, email: string, since: Date): Promise<number> {
  return db.sentEmail.count({ where: { kind: { in: [TrialMail.verification, TrialMail.welcomeBack] }, recipient: email.toLowerCase(), sentAt: { gte: since } } });
}

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
 * What the login check (the seed's TrialExpirationAuthenticator) needs. A
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

export type EmbedRefusal = 'not_yours' | 'unknown_app' | 'trial_expired';

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
): Promise<{ token: string; expiresAt: string } | { refused: EmbedRefusal }> {
  const account = await deps.db.account.findUnique({ where: { id: request.accountId } });
  if (!account || account.username !== request.username) return { refused: 'not_yours' };
  const app = await deps.db.app.findUnique({ where: { id: request.appId } });
  if (!app || app.ownerAccountId !== account.id) return { refused: 'unknown_app' };
  const infos = await readTrialInfos(deps.db, account.email, new Date(now));
  if (app.ownerPermission === 'none' || infos?.expired) return { refused: 'trial_expired' };
  const exp = now + deps.ttlMs;
  const token = await deps.embedSigner.sign({ app: app.id }, { subject: String(account.id), audience: EMBED_AUDIENCE, issuer: deps.issuer, expiresAt: exp });
  return { token, expiresAt: new Date(Math.floor(exp / 1000) * 1000).toISOString() };
}

/** Password-reset links live this long. */
export const PASSWORD_RESET_TTL_MS = 3_600_000;

interface PasswordResetFields {
  [key: string]: string | number;
  sub: number;
  /** Fingerprint of the password hash the link was issued for: once the password changes, the link is spent. */
  pw: string;
  exp: number;
}

function passwordFingerprint(passwordHash: string): string {
  return hashKey(passwordHash).slice(0, 24);
}

export function passwordResetToken(signer: TokenSigner, account: { id: number; passwordHash: string }, now = Date.now()): string {
  return TokenSigner.serialize(signer.sign(TRIAL_PASSWORD_RESET, { sub: account.id, pw: passwordFingerprint(account.passwordHash), exp: now + PASSWORD_RESET_TTL_MS }));
}

/** The account a reset link is for; throws TokenError (`mismatch` once the link was used, `expired`, `invalid`...). */
export async function readPasswordResetToken(db: Db, signer: TokenSigner, token: string): Promise<{ accountId: number; username: string; passwordHash: string }> {
  const fields = signer.parseAndVerify<PasswordResetFields>(TRIAL_PASSWORD_RESET, token);
  const account = await db.account.findUnique({ where: { id: Number(fields.sub) } });
  if (!account) throw new TokenError('invalid', 'This link is not valid.');
  signer.verify<PasswordResetFields>(TRIAL_PASSWORD_RESET, fields, { bind: { pw: passwordFingerprint(account.passwordHash) } });
  return { accountId: account.id, username: account.username, passwordHash: account.passwordHash };
}

/** Sets the new password only if it is still the one the link was issued for, so a link works once. */
export async function resetPassword(db: Db, signer: TokenSigner, token: string, newPasswordHash: string): Promise<{ username: string }> {
  const account = await readPasswordResetToken(db, signer, token);
  // A new password ends every session issued with the old one.
  const { count } = await db.account.updateMany({ where: { id: account.accountId, passwordHash: account.passwordHash }, data: { passwordHash: newPasswordHash, sessionGeneration: { increment: 1 } } });
  if (count === 0) throw new TokenError('mismatch', 'This link was already used.');
  return { username: account.username };
}
