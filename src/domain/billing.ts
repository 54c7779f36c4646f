// The billing portal's records and links, as the activities write them and
// the API reads them: remote servers and realms (records no flow owns),
// billing users, confirmation links, token formats. Nothing here speaks HTTP:
// refusals are Zulip's, by code.
import type { Db } from '../shared/db';
import { isUniqueViolation } from '../shared/db';
import { FailureTable, Refused } from '../shared/failures';
import { DeadLink } from '../shared/links';
import { hashKey, safeEqual, TokenError, TokenSigner } from '../shared/tokens';
import type { BillingIdentity, NextPage } from '../workflows/billing/messages';

/** A Zulip error code is both the refusal's type and the code its client acts on. */
const zulipError = (code: string, status: number) => ({ type: code, status, code });

/** Refusals of a self-hosted server's calls, with Zulip's error codes. */
export const RemoteServerFailure = {
  unknownServer: zulipError('INVALID_ZULIP_SERVER', 401),
  wrongKey: zulipError('INVALID_ZULIP_SERVER_KEY', 401),
  deactivated: zulipError('REMOTE_SERVER_DEACTIVATED', 403),
  missingRealm: zulipError('MISSING_REMOTE_REALM', 403),
  realmOfAnotherServer: zulipError('REMOTE_REALM_SERVER_MISMATCH_ERROR', 403),
} satisfies FailureTable;

/** Zulip's daily limits on confirmation mails. */
export const CONFIRMATION_MAILS_PER_IP_PER_DAY = 5;
export const CONFIRMATION_MAILS_PER_SERVER_PER_DAY = 10;

export const ACCESS_TOKEN = 'billing-access';
export const SERVER_LOGIN_TOKEN = 'billing-server-login';
export const SESSION_TOKEN = 'billing-session';
export const CONFIRMATION_KEY = 'billing-confirmation-key';

type Server = NonNullable<Awaited<ReturnType<Db['remoteZulipServer']['findUnique']>>>;

/* ---- Remote servers ---- */

/** Server key → stored form; compared with safeEqual so a wrong key costs the same time as a right one. */
export function serverKeyHash(key: string): string {
  return hashKey(key);
}

/**
 * A server's UUID and key → the server. The three refusals carry distinct
 * codes so a self-hosted server can tell its admin what to fix.
 */
export async function authenticateServer(db: Db, uuid: string, key: string): Promise<Server> {
  const server = await db.remoteZulipServer.findUnique({ where: { uuid } });
  const keyMatches = safeEqual(serverKeyHash(key), server?.apiKeyHash ?? serverKeyHash(''));
  if (!server) throw new Refused(RemoteServerFailure.unknownServer, `Zulip server ${uuid} is not registered.`, 'Unknown server');
  if (!keyMatches) throw new Refused(RemoteServerFailure.wrongKey, 'The key for this server is not correct.', 'Wrong server key');
  if (server.deactivated) throw new Refused(RemoteServerFailure.deactivated, 'Your server registration has been deactivated.', 'Server deactivated');
  return server;
}

export async function registerServer(
  db: Db,
  registration: { uuid: string; key: string; hostname: string; contactEmail: string },
): Promise<{ created: boolean }> {
  const existing = await db.remoteZulipServer.findUnique({ where: { uuid: registration.uuid } });
  if (existing) {
    await authenticateServer(db, registration.uuid, registration.key);
    await db.remoteZulipServer.update({
      where: { id: existing.id },
      data: { hostname: registration.hostname, contactEmail: registration.contactEmail },
    });
    return { created: false };
  }
  try {
    await db.remoteZulipServer.create({
      data: {
        uuid: registration.uuid,
        apiKeyHash: serverKeyHash(registration.key),
        hostname: registration.hostname,
        contactEmail: registration.contactEmail,
      },
    });
    return { created: true };
  } catch (err) {
    // Two first registrations at once: the second one is an update of the first.
    if (isUniqueViolation(err)) return registerServer(db, registration);
    throw err;
  }
}

export async function findServer(db: Db, uuid: string): Promise<Server | null> {
  return db.remoteZulipServer.findUnique({ where: { uuid } });
}

/* ---- Realms ---- */

export async function upsertRealms(db: Db, server: Server, realms: { uuid: string; host: string; name: string }[]) {
  const known = await db.remoteRealm.findMany({ where: { uuid: { in: realms.map((r) => r.uuid) } } });
  const foreign = known.find((r) => r.serverId !== server.id);
  if (foreign) {
    throw new Refused(RemoteServerFailure.realmOfAnotherServer, `Organization ${foreign.uuid} is registered to another server.`);
  }
  for (const realm of realms) {
    await db.remoteRealm.upsert({
      where: { uuid: realm.uuid },
      create: { uuid: realm.uuid, host: realm.host, name: realm.name, serverId: server.id },
      update: { host: realm.host, name: realm.name },
    });
  }
  return db.remoteRealm.findMany({ where: { serverId: server.id }, orderBy: { id: 'asc' } });
}

export async function realmOfServer(db: Db, server: Server, realmUuid: string) {
  const realm = await db.remoteRealm.findUnique({ where: { uuid: realmUuid } });
  if (!realm) throw new Refused(RemoteServerFailure.missingRealm, `Organization ${realmUuid} is not registered.`);
  if (realm.serverId !== server.id) throw new Refused(RemoteServerFailure.realmOfAnotherServer, `Organization ${realmUuid} belongs to another server.`);
  return realm;
}

export async function findRealm(db: Db, uuid: string) {
  return db.remoteRealm.findUnique({ where: { uuid }, include: { server: true } });
}

/* ---- Billing users ---- */

export interface BillingUserView {
  id: number;
  email: string;
  fullName: string;
  tosVersion: string | null;
  enableMajorReleaseEmails: boolean;
  enableMaintenanceReleaseEmails: boolean;
  lastLogin: Date | null;
}

/** The billing user an identity names, if its email was confirmed before. */
export async function findBillingUser(db: Db, identity: BillingIdentity): Promise<BillingUserView | null> {
  if (identity.kind === 'realm') {
    const realm = await db.remoteRealm.findUnique({ where: { uuid: identity.realmUuid! } });
    if (!realm) return null;
    return db.remoteRealmBillingUser.findUnique({ where: { realmId_userUuid: { realmId: realm.id, userUuid: identity.userUuid! } } });
  }
  const server = await db.remoteZulipServer.findUnique({ where: { uuid: identity.serverUuid } });
  if (!server) return null;
  return db.remoteServerBillingUser.findUnique({ where: { serverId_email: { serverId: server.id, email: identity.email.toLowerCase() } } });
}

export async function findBillingUserById(db: Db, kind: 'realm' | 'server', id: number): Promise<BillingUserView | null> {
  return kind === 'realm' ? db.remoteRealmBillingUser.findUnique({ where: { id } }) : db.remoteServerBillingUser.findUnique({ where: { id } });
}

/** Consent is asked again only when the terms change by a MAJOR version (1.x → 2.0). */
export function tosConsentNeeded(accepted: string | null | undefined, current: string): boolean {
  if (!accepted) return true;
  return Number(accepted.split('.')[0]) < Number(current.split('.')[0]);
}

/* ---- Confirmation mails ---- */

/** Which daily limit a new confirmation mail would break, if any, worded for the person. */
export async function confirmationLimitReached(db: Pick<Db, 'billingConfirmation'>, ip: string, serverId: number, now = new Date()): Promise<string | undefined> {
  const since = new Date(now.getTime() - 24 * 3600_000);
  const byIp = await db.billingConfirmation.count({ where: { ip, createdAt: { gte: since } } });
  if (byIp >= CONFIRMATION_MAILS_PER_IP_PER_DAY) {
    return `Too many confirmation emails were requested from your IP address today (limit: ${CONFIRMATION_MAILS_PER_IP_PER_DAY} per IP address per day). Please try again tomorrow.`;
  }
  const byServer = await db.billingConfirmation.count({ where: { serverId, createdAt: { gte: since } } });
  if (byServer >= CONFIRMATION_MAILS_PER_SERVER_PER_DAY) {
    return `Too many confirmation emails were requested for this server today (limit: ${CONFIRMATION_MAILS_PER_SERVER_PER_DAY} per server per day). Please try again tomorrow.`;
  }
  return undefined;
}

/** How a confirmation link ends, with what the person can do next. */
export function confirmationLinkDead(state: 'unknown' | 'expired' | 'used'): DeadLink {
  if (state === 'used') return new DeadLink('used', 'This confirmation link has already been used.', { text: 'Request a new one from your server to log in again.' }, { title: 'Confirmation link already used' });
  if (state === 'expired') return new DeadLink('expired', 'This confirmation link has expired.', { text: 'Request a new one to log in.' }, { title: 'Confirmation link expired' });
  return new DeadLink('unknown', 'This confirmation link is not valid.', { text: 'Open the link from the confirmation email again.' }, { title: 'Invalid confirmation link' });
}

/** A confirmation link's key: the login it confirms (and whether it was used), before the workflow claims it; a dead link otherwise. */
export async function readConfirmationLink(db: Db, key: string, kind: 'realm' | 'server', now = new Date()) {
  const keyHash = hashKey(key);
  const row = await db.billingConfirmation.findUnique({ where: { keyHash } });
  const identity = row?.login as unknown as BillingIdentity | undefined;
  if (!row || !identity || identity.kind !== kind) throw confirmationLinkDead('unknown');
  if (row.expiresAt <= now) throw confirmationLinkDead('expired');
  return { identity, keyHash, used: row.usedAt !== null };
}

/* ---- Signed tokens: access URLs, the legacy login's proof of the server key, sessions ---- */

type AccessFields = {
  kind: string;
  server: string;
  realm: string | null;
  user: string | null;
  email: string;
  fullName: string;
  uriScheme: string;
  nextPage: string | null;
  iat: number;
  exp: number;
};

export function issueAccessToken(signer: TokenSigner, identity: BillingIdentity, ttlMs: number, now = Date.now()): string {
  const fields: AccessFields = {
    kind: identity.kind,
    server: identity.serverUuid,
    realm: identity.realmUuid,
    user: identity.userUuid,
    email: identity.email,
    fullName: identity.fullName,
    uriScheme: identity.uriScheme,
    nextPage: identity.nextPage,
    iat: now,
    exp: now + ttlMs,
  };
  return TokenSigner.serialize(signer.sign(ACCESS_TOKEN, fields));
}

/** The identity a billing access link stands for, or a dead link: expired, or not valid (forged, re-typed, another server's). */
export function readAccessLink(signer: TokenSigner, token: string, kind: 'realm' | 'server', serverUuid?: string): BillingIdentity {
  try {
    const identity = verifyAccessToken(signer, token, kind);
    if (serverUuid !== undefined && identity.serverUuid !== serverUuid) throw new TokenError('mismatch', 'wrong server');
    return identity;
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    // Zulip's own titles and statuses, which a Zulip admin may know.
    if (err.problem === 'expired') throw new DeadLink('expired', 'Your billing access link has expired.', { text: 'Start again from your server.' }, { title: 'Billing access token expired.' });
    throw new DeadLink('unknown', 'This billing access link is not valid.', { text: 'Start again from your server.' }, { status: 400, title: 'Invalid billing access token.' });
  }
}

/** Throws TokenError (malformed | invalid | expired | mismatch). */
export function verifyAccessToken(signer: TokenSigner, token: string, kind: 'realm' | 'server'): BillingIdentity {
  const t = signer.parseAndVerify<AccessFields>(ACCESS_TOKEN, token, { bind: { kind } });
  return {
    kind,
    serverUuid: t.server,
    realmUuid: t.realm,
    userUuid: t.user,
    email: t.email,
    fullName: t.fullName,
    uriScheme: t.uriScheme,
    nextPage: t.nextPage as NextPage | null,
  };
}

type ServerLoginFields = { server: string; nextPage: string | null; exp: number };

/** Proof, carried in the legacy email form, that this browser gave the server's key. */
export function issueServerLoginToken(signer: TokenSigner, serverUuid: string, nextPage: NextPage | null, ttlMs: number): string {
  return TokenSigner.serialize(signer.sign<ServerLoginFields>(SERVER_LOGIN_TOKEN, { server: serverUuid, nextPage, exp: Date.now() + ttlMs }));
}

export function verifyServerLoginToken(signer: TokenSigner, token: unknown, serverUuid: string): { nextPage: NextPage | null } {
  const t = signer.parseAndVerify<ServerLoginFields>(SERVER_LOGIN_TOKEN, token, { bind: { server: serverUuid } });
  return { nextPage: t.nextPage as NextPage | null };
}

export type BillingSession = {
  kind: 'realm' | 'server';
  server: string;
  realm: string | null;
  billingUser: number;
  uriScheme: string;
  exp: number;
};

export function issueSessionToken(signer: TokenSigner, session: Omit<BillingSession, 'exp'>, ttlMs: number): string {
  return TokenSigner.serialize(signer.sign<BillingSession>(SESSION_TOKEN, { ...session, exp: Date.now() + ttlMs }));
}

/**
 * The session in a cookie: `valid`, or `expired` (genuine but past its time,
 * so the person can be sent back to log in again); undefined when absent or forged.
 */
export function readSessionToken(signer: TokenSigner, cookie: string | undefined): { state: 'valid' | 'expired'; session: BillingSession } | undefined {
  if (!cookie) return undefined;
  try {
    return { state: 'valid', session: signer.parseAndVerify<BillingSession>(SESSION_TOKEN, cookie) };
  } catch {
    try {
      // Authenticity only: an expired session still says where to send the person.
      return { state: 'expired', session: signer.parseAndVerify<BillingSession>(SESSION_TOKEN, cookie, { now: new Date(0) }) };
    } catch {
      return undefined;
    }
  }
}
