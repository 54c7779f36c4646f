import type { Context, Middleware } from 'koa';
import type { Config } from '../config';
import type { Db } from '../shared/db';
import type { TokenSigner } from '../shared/tokens';
import { accessTokenAccount, DEVICE_TTL_MS, signIn, SignInResult } from '../shared/auth';
import { HttpError } from './http';

/**
 * Cookies of this service. Whenever the public URL is https they are Secure
 * and carry the `__Host-` prefix (no Domain, path /), so neither a sibling
 * subdomain nor a plain-http page can plant one; this holds whether or not
 * the connection in front of the API is trusted to say it was https.
 */
export function cookiePolicy(config: Config): Middleware {
  const secure = config.publicUrl.startsWith('https:');
  return async (ctx, next) => {
    ctx.state.secureCookies = secure;
    // A proxy may end TLS before the API: the cookies are still for an https site.
    if (secure) ctx.cookies.secure = true;
    await next();
  };
}

export function cookieName(ctx: Context, base: string): string {
  return ctx.state.secureCookies ? `__Host-${base}` : base;
}

export function getCookie(ctx: Context, base: string): string | undefined {
  return ctx.cookies.get(cookieName(ctx, base));
}

/** Sets (or, with null, clears) one of our cookies; without `maxAgeMs` it lasts as long as the browser session. */
export function setCookie(ctx: Context, base: string, value: string | null, options: { sameSite: 'lax' | 'strict'; maxAgeMs?: number }): void {
  ctx.cookies.set(cookieName(ctx, base), value, {
    httpOnly: true,
    sameSite: options.sameSite,
    secure: !!ctx.state.secureCookies,
    path: '/',
    overwrite: true,
    ...(options.maxAgeMs ? { maxAge: options.maxAgeMs } : {}),
  });
}

/** The browser session of a signed-in account: an access token in a cookie. */
export const SESSION_COOKIE = 'fg_session';
/** The billing portal's session (a signed billing-session token). */
export const BILLING_SESSION_COOKIE = 'fg_billing_session';
/** A browser where an account signed in with its password: its device token (auth.ts), for the sign-in back-off. */
export const DEVICE_COOKIE = 'fg_device';
/** Cookies that say who is signed in: forms are bound to them (see pages.ts). */
export const SESSION_COOKIES = [SESSION_COOKIE, BILLING_SESSION_COOKIE];

export function startSession(ctx: Context, accessToken: string): void {
  setCookie(ctx, SESSION_COOKIE, accessToken, { sameSite: 'lax' });
}

export function clearSession(ctx: Context): void {
  setCookie(ctx, SESSION_COOKIE, null, { sameSite: 'lax' });
}

/** The signed-in account of a browser, or undefined without a valid, current session. */
export async function sessionAccountId(ctx: Context, deps: { db: Db; signer: TokenSigner }): Promise<number | undefined> {
  const value = getCookie(ctx, SESSION_COOKIE);
  return value ? accessTokenAccount(deps.db, deps.signer, value) : undefined;
}

/** The account of the request's bearer token, or undefined. */
export async function bearerAccountId(ctx: Context, deps: { db: Db; signer: TokenSigner }): Promise<number | undefined> {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'));
  return match ? accessTokenAccount(deps.db, deps.signer, match[1]) : undefined;
}

/** Requires a valid bearer token; the account id is then `ctx.state.accountId`. */
export function requireAccount(deps: { db: Db; signer: TokenSigner }): Middleware {
  return async (ctx, next) => {
    const id = await bearerAccountId(ctx, deps);
    if (id === undefined) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new HttpError(401, 'Authentication required: send Authorization: Bearer <accessToken>.');
    }
    ctx.state.accountId = id;
    await next();
  };
}

/**
 * A password sign-in from this request, for every sign-in endpoint: counted
 * for its client address, or for its device when the browser holds a device
 * token for the account; a success (re)sets the device cookie.
 */
export async function passwordSignIn(ctx: Context, deps: { db: Db; signer: TokenSigner }, login: string, password: string): Promise<SignInResult> {
  const device = getCookie(ctx, DEVICE_COOKIE);
  const result = await signIn(deps.db, deps.signer, login, password, { client: ctx.ip, ...(device ? { device } : {}) });
  if (result.outcome === 'signed_in') setCookie(ctx, DEVICE_COOKIE, result.deviceToken, { sameSite: 'strict', maxAgeMs: DEVICE_TTL_MS });
  return result;
}

/** A sign-in's answer for the JSON APIs: the access token, or 401, or 429 with Retry-After. */
export function signedIn(result: SignInResult): string {
  if (result.outcome === 'signed_in') return result.accessToken;
  if (result.outcome === 'throttled') throw tooManySignIns(result.retryAfterSeconds);
  throw new HttpError(401, 'Wrong username or password.');
}

export function tooManySignIns(retryAfterSeconds: number): HttpError {
  return new HttpError(429, `Too many failed sign-ins: try again in ${retryAfterSeconds} seconds.`, { retryAfterSeconds }, 'Too many attempts');
}
