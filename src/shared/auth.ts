import crypto from 'node:crypto';
import argon2 from 'argon2';
import { promisify } from 'node:util';
import type { Context, Middleware } from 'koa';
import type { Db } from './db';
import { TokenError, TokenSigner } from './tokens';

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

/** Username or email + password -> account id, with the same cost and answer for "no such user" and "wrong password". */
export async function checkCredentials(db: Db, login: string, password: string): Promise<number | undefined> {
  const key = login.trim().toLowerCase();
  const account = await db.account.findFirst({ where: key.includes('@') ? { email: key } : { username: key } });
  dummyHash ??= hashPassword(crypto.randomBytes(16).toString('hex'));
  const ok = await verifyPassword(password, account?.passwordHash ?? (await dummyHash));
  if (!ok || !account) return undefined;
  // The password is at hand only now: the one moment an old hash can be upgraded.
  if (needsRehash(account.passwordHash)) {
    await db.account.updateMany({ where: { id: account.id, passwordHash: account.passwordHash }, data: { passwordHash: await hashPassword(password) } });
  }
  return account.id;
}

export const ACCESS_TOKEN = 'access';
const ACCESS_TTL_MS = 12 * 3600_000;

/** A stateless bearer token for API calls: `Authorization: Bearer <token>`. */
export function issueAccessToken(signer: TokenSigner, accountId: number, now = Date.now()): string {
  return TokenSigner.serialize(signer.sign(ACCESS_TOKEN, { sub: accountId, exp: now + ACCESS_TTL_MS }));
}

/** The signed-in account id, or undefined when the request carries no valid bearer token. */
export function bearerAccountId(ctx: Context, signer: TokenSigner): number | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'));
  if (!match) return undefined;
  try {
    return Number(signer.parseAndVerify<{ sub: number; exp: number }>(ACCESS_TOKEN, match[1]).sub);
  } catch (err) {
    if (err instanceof TokenError) return undefined;
    throw err;
  }
}

/** One browser session for every page that needs a signed-in account: an httpOnly cookie holding an access token. */
export const SESSION_COOKIE = 'fg_session';

export function startSession(ctx: Context, signer: TokenSigner, accountId: number): void {
  ctx.cookies.set(SESSION_COOKIE, issueAccessToken(signer, accountId), { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', overwrite: true });
}

/** The signed-in account of a browser, or undefined without a valid session cookie. */
export function sessionAccountId(ctx: Context, signer: TokenSigner): number | undefined {
  const value = ctx.cookies.get(SESSION_COOKIE);
  if (!value) return undefined;
  try {
    return Number(signer.parseAndVerify<{ sub: number; exp: number }>(ACCESS_TOKEN, value).sub);
  } catch (err) {
    if (err instanceof TokenError) return undefined;
    throw err;
  }
}

/** Requires a valid bearer token; the account id is then `ctx.state.accountId`. */
export function requireAccount(signer: TokenSigner): Middleware {
  return async (ctx, next) => {
    const id = bearerAccountId(ctx, signer);
    if (id === undefined) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = { reason: 'Authentication required: send Authorization: Bearer <accessToken>.' };
      return;
    }
    ctx.state.accountId = id;
    await next();
  };
}
