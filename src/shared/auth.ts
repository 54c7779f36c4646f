import crypto from 'node:crypto';
import argon2 from 'argon2';
import { promisify } from 'node:util';
import type { Db } from './db';
import { randomKey, TokenError, TokenSigner } from './tokens';
import { reserveSignInAttempt, settleSuccessfulSignIn } from './throttle';

// argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about
// 30 ms of one core here. The scrypt N=2^15 used before cost three times that
// and fell short of OWASP's scrypt advice. The PHC string carries its parameters.
const ARGON2 = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2);
}

const scrypt = promisify(crypto.scrypt) as (password: crypto.BinaryLike, salt: crypto.BinaryLike, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith('$argon2')) return argon2.verify(stored, password).catch(() => false);
  // `scrypt$N$r$p$salt$hash`, written by earlier versions; replaced on the next sign-in.
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024 });
  return crypto.timingSafeEqual(actual, expected);
}

/** True for a stored hash of an older scheme or weaker parameters than today's. */
export function needsRehash(stored: string): boolean {
  if (!stored.startsWith('$argon2')) return true;
  try {
    return argon2.needsRehash(stored, ARGON2);
  } catch {
    return true;
  }
}

/** Password rule shared by every sign-up: 8+ characters with a letter, a digit and a symbol. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 8) return 'Password must be at least 8 characters.';
  if (!/[A-Za-z]/.test(password) || !/\d/.test(password) || !/[^A-Za-z0-9]/.test(password)) {
    return 'Password must contain a letter, a digit and a symbol.';
  }
  return undefined;
}

// A hash of a random password: unknown users cost as much time as wrong passwords.
let dummyHash: Promise<string> | undefined;

export type SignInResult =
  | { outcome: 'signed_in'; accountId: number; accessToken: string; deviceToken: string }
  | { outcome: 'refused' }
  | { outcome: 'throttled'; retryAfterSeconds: number };

/**
 * Username or email + password, from one client address (and the device
 * token the browser holds, if any): the same cost and the same answer for "no
 * such user" and "wrong password", and back-off for repeated failures (see
 * throttle.ts) before any password is hashed. A success comes with a fresh
 * device token for the account.
 */
export async function signIn(db: Db, signer: TokenSigner, login: string, password: string, from: { client: string; device?: string }): Promise<SignInResult> {
  const key = login.trim().toLowerCase();
  // Attempts count per account, whichever of its names was typed; a name no account has counts by its text.
  const account = await db.account.findFirst({ where: key.includes('@') ? { email: key } : { username: key } });
  const target = account ? { accountId: account.id } : { name: key };
  const origin = { client: from.client, ...(account && from.device ? { device: deviceOf(signer, from.device, account.id) } : {}) };
  const reservation = await reserveSignInAttempt(db, target, origin);
  if (!reservation.allowed) return { outcome: 'throttled', retryAfterSeconds: reservation.retryAfterSeconds };
  dummyHash ??= hashPassword(crypto.randomBytes(16).toString('hex'));
  const ok = await verifyPassword(password, account?.passwordHash ?? (await dummyHash));
  if (!ok || !account) return { outcome: 'refused' };
  await settleSuccessfulSignIn(db, target, origin);
  // The password is at hand only now: the one moment an old hash can be upgraded.
  if (needsRehash(account.passwordHash)) {
    await db.account.updateMany({ where: { id: account.id, passwordHash: account.passwordHash }, data: { passwordHash: await hashPassword(password) } });
  }
  return { outcome: 'signed_in', accountId: account.id, accessToken: issueAccessToken(signer, account), deviceToken: issueDeviceToken(signer, account.id) };
}

/*
 * ---- Device tokens (OWASP's device cookies) ----
 * A browser where an account signed in keeps a signed token naming that
 * account and a random device id. Its sign-ins to that account are then
 * counted on their own (throttle.ts), so a stranger guessing at the account
 * from elsewhere cannot keep its owner out. It proves a past sign-in on that
 * device, nothing more: it opens no session.
 */
export const DEVICE_TOKEN = 'sign-in-device';
export const DEVICE_TTL_MS = 90 * 24 * 3600_000;

type DeviceFields = { sub: number; dev: string; exp: number };

export function issueDeviceToken(signer: TokenSigner, accountId: number, now = Date.now()): string {
  return TokenSigner.serialize(signer.sign<DeviceFields>(DEVICE_TOKEN, { sub: accountId, dev: randomKey(16), exp: now + DEVICE_TTL_MS }));
}

/** The device id of a genuine, unexpired device token for this account; undefined for anything else. */
export function deviceOf(signer: TokenSigner, token: string, accountId: number): string | undefined {
  try {
    const fields = signer.parseAndVerify<DeviceFields>(DEVICE_TOKEN, token, { bind: { sub: accountId } });
    return typeof fields.dev === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(fields.dev) ? fields.dev : undefined;
  } catch (err) {
    if (err instanceof TokenError) return undefined;
    throw err;
  }
}

export const ACCESS_TOKEN = 'access';
const ACCESS_TTL_MS = 12 * 3600_000;

type AccessFields = { sub: number; gen: number; exp: number };

/**
 * A bearer token for API calls and the browser session: `Authorization:
 * Bearer <token>` or the session cookie. It names the account's session
 * generation, so a password reset or a sign-out ends it.
 */
export function issueAccessToken(signer: TokenSigner, account: { id: number; sessionGeneration: number }, now = Date.now()): string {
  return TokenSigner.serialize(signer.sign<AccessFields>(ACCESS_TOKEN, { sub: account.id, gen: account.sessionGeneration, exp: now + ACCESS_TTL_MS }));
}

/** The account an access token is for, while it is genuine, unexpired and of the account's current session generation. */
export async function accessTokenAccount(db: Db, signer: TokenSigner, token: string): Promise<number | undefined> {
  let fields: AccessFields;
  try {
    fields = signer.parseAndVerify<AccessFields>(ACCESS_TOKEN, token);
  } catch (err) {
    if (err instanceof TokenError) return undefined;
    throw err;
  }
  const id = Number(fields.sub);
  if (!Number.isInteger(id) || id < 1 || id > 2_147_483_647) return undefined;
  const account = await db.account.findUnique({ where: { id }, select: { sessionGeneration: true } });
  // Tokens issued before generations existed carry none: they count as the first.
  return account && account.sessionGeneration === Number(fields.gen ?? 0) ? id : undefined;
}

/** Ends every session of the account issued so far (sign-out, password reset). */
export async function endSessions(db: Db, accountId: number): Promise<void> {
  await db.account.updateMany({ where: { id: accountId }, data: { sessionGeneration: { increment: 1 } } });
}
