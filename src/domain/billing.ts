// The billing portal's records and links, as the activities write them and
// the API reads them: remote servers and realms (records no flow owns),
// billing users, confirmation links, token formats. Nothing here speaks HTTP:
// a refusal is an entry of the flow's failure table (BillingFailure, with
// Zulip's codes).
import type { Db } from '../shared/db';
import { isUniqueViolation } from '../shared/db';
import { FlowFailure, Refused } from '../shared/failures';
import { DeadLink } from '../shared/links';
import { hashKey, safeEqual, TokenError, TokenSigner } from '../shared/tokens';
import { BillingFailure, type BillingIdentity, type NextPage } from '../workflows/billing/messages';

/** Zulip's daily limits on confirmation mails. */
export const CONFIRMATION_MAILS_PER_IP_PER_DAY = 5;
export const CONFIRMATION_MAILS_PER_SERVER_PER_DAY = 10;

export const ACCESS_TOKEN = 'billing-access';
export const SERVER_LOGIN_TOKEN = 'billing-server-login';
export const SESSION_TOKEN = 'billing-session';
export const CONFIRMATION_KEY = 'billing-confirmation-key';

type Server = NonNullable<Awaited<ReturnType<Db['remoteZulipServer']['findUnique']>>>;

/* ---- Remote servers ---- */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Server key → stored form; compared with safeEqual so a wrong key costs the same time as a right one. */
export function serverKeyHash(key: string): string {
  return hashKey(key);
}

/** A server's UUID and key → the server; refused in Zulip's words, which name what its admin should do. */
export async function authenticateServer(db: Db, uuid: string, key: string, keyMismatch: FlowFailure = BillingFailure.wrongServerKey): Promise<Server> {
  const unknown = () => new Refused(BillingFailure.unknownServer, `Zulip server auth failure: ${uuid} is not registered -- did you run \`manage.py register_server\`?`, 'Unknown server');
  if (!UUID.test(uuid)) throw unknown();
  const server = await db.remoteZulipServer.findUnique({ where: { uuid } });
  const keyMatches = safeEqual(serverKeyHash(key), server?.apiKeyHash ?? serverKeyHash(''));
  if (!server) throw unknown();
  if (!keyMatches) throw new Refused(keyMismatch, `Zulip server auth failure: key does not match role ${uuid}`, 'Wrong server key');
  if (server.deactivated) throw new Refused(BillingFailure.serverDeactivated, 'The mobile push notification service registration for your server has been deactivated', 'Server deactivated');
  return server;
}

/** Registers a server, or updates a known one whose key matches; `newKey` replaces its key (Zulip's `register_server --rotate-key`). */
export async function registerServer(
  db: Db,
  registration: { uuid: string; key: string; newKey?: string; hostname: string; contactEmail: string },
): Promise<{ created: boolean }> {
  const existing = await db.remoteZulipServer.findUnique({ where: { uuid: registration.uuid } });
  if (existing) {
    await authenticateServer(db, registration.uuid, registration.key, BillingFailure.registrationKeyMismatch);
    await db.remoteZulipServer.update({
      where: { id: existing.id },
      data: {
        hostname: registration.hostname,
        contactEmail: registration.contactEmail,
        ...(registration.newKey ? { apiKeyHash: serverKeyHash(registration.newKey) } : {}),
      },
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

/** The highest row id of each kind of analytics data a server has uploaded (Zulip's `server/analytics/status`). */
export function analyticsStatus(server: Server) {
  return {
    last_realm_count_id: Number(server.lastRealmCountId),
    last_installation_count_id: Number(server.lastInstallationCountId),
    last_realmauditlog_id: Number(server.lastRealmAuditLogId),
  };
}

/**
 * A server's analytics upload: its realms are recorded (created, or renamed
 * and moved to another host), and the highest row ids it sent are kept so
 * the next upload sends only newer rows. The counts themselves are not
 * needed for billing logins and are not kept. Answers the uploaded realms.
 */
export async function recordAnalyticsUpload(
  db: Db,
  server: Server,
  upload: { realms: { uuid: string; host: string; name: string }[]; highestIds: { realmCount: number; installationCount: number; realmAuditLog: number } },
  retried = false,
): Promise<{ uuid: string }[]> {
  const { realmCount, installationCount, realmAuditLog } = upload.highestIds;
  try {
    return await db.$transaction(async (tx) => {
      const realms = [];
      for (const realm of upload.realms) {
        const known = await tx.remoteRealm.findUnique({ where: { uuid: realm.uuid } });
        // Zulip's answer when a realm's UUID is registered to another server.
        if (known && known.serverId !== server.id) throw new Refused(BillingFailure.duplicateRealm, 'Duplicate registration detected.');
        const data = { host: realm.host, name: realm.name };
        realms.push(known ? await tx.remoteRealm.update({ where: { id: known.id }, data }) : await tx.remoteRealm.create({ data: { ...data, uuid: realm.uuid, serverId: server.id } }));
      }
      // GREATEST: two uploads at once never move a mark back.
      await tx.$executeRaw`UPDATE "RemoteZulipServer" SET
        "lastRealmCountId" = GREATEST("lastRealmCountId", ${BigInt(realmCount)}),
        "lastInstallationCountId" = GREATEST("lastInstallationCountId", ${BigInt(installationCount)}),
        "lastRealmAuditLogId" = GREATEST("lastRealmAuditLogId", ${BigInt(realmAuditLog)})
        WHERE id = ${server.id}`;
      return realms;
    });
  } catch (err) {
    // Two uploads of a new realm at once: the second one finds the first one's row.
    if (!retried && isUniqueViolation(err)) return recordAnalyticsUpload(db, server, upload, true);
    throw err;
  }
}

/** The realm a billing request names, when this server has uploaded it; Zulip's refusals otherwise. */
export async function realmOfServer(db: Db, server: Server, realmUuid: string) {
  const realm = await db.remoteRealm.findUnique({ where: { uuid: realmUuid } });
  if (!realm) throw new Refused(BillingFailure.missingRealm, 'Organization not registered');
  if (realm.serverId !== server.id) {
    throw new Refused(BillingFailure.realmOfAnotherServer, 'Your organization is registered to a different Zulip server. Please contact Zulip support for assistance in resolving this issue.');
  }
  return realm;
}

/**
 * Where a login without `next_page` lands. Zulip decides by the plan type and
 * its scheduled changes; simplified here: the billing page for a customer
 * with a plan (`plan` set on the realm, or on the server for the legacy
 * login), the plans page otherwise.
 */
export async function landingPage(db: Db, identity: Pick<BillingIdentity, 'kind' | 'realmUuid' | 'serverUuid'>): Promise<NextPage> {
  const customer =
    identity.kind === 'realm'
      ? await db.remoteRealm.findUnique({ where: { uuid: identity.realmUuid! } })
      : await db.remoteZulipServer.findUnique({ where: { uuid: identity.serverUuid } });
  return customer?.plan ? 'billing' : 'plans';
}

/** The name operators know a login's organization by: the realm's name (or host), or the server's host name. */
export async function organizationName(db: Db, identity: Pick<BillingIdentity, 'kind' | 'realmUuid' | 'serverUuid'>): Promise<string> {
  if (identity.kind === 'realm') {
    const realm = await findRealm(db, identity.realmUuid!);
    return realm?.name || realm?.host || identity.realmUuid!;
  }
  return (await findServer(db, identity.serverUuid))?.hostname ?? identity.serverUuid;
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

/** Zulip's realm confirmation links work once; the legacy server login's work until they expire. */
export function confirmationSingleUse(identity: Pick<BillingIdentity, 'kind'>): boolean {
  return identity.kind === 'realm';
}

/** How a confirmation link ends, with what the person can do next. */
export function confirmationLinkDead(state: 'unknown' | 'expired' | 'used'): DeadLink {
  if (state === 'used') return new DeadLink('used', 'This confirmation link has already been used.', { text: 'Request a new one from your server to log in again.' }, { title: 'Confirmation link already used' });
  if (state === 'expired') return new DeadLink('expired', 'This confirmation link has expired.', { text: 'Request a new one to log in.' }, { title: 'Confirmation link expired' });
  return new DeadLink('unknown', 'This confirmation link is not valid.', { text: 'Open the link from the confirmation email again.' }, { title: 'Invalid confirmation link' });
}

/**
 * A confirmation link's key: the login it confirms, before the workflow
 * claims it; a dead link otherwise. A realm login's link works once (its
 * billing user then exists; `used` says it was, so a reload can get the first
 * answer); the legacy login's link works again and again until it expires,
 * as Zulip's does: it is the way back to that login.
 */
export async function readConfirmationLink(db: Db, key: string, kind: 'realm' | 'server', now = new Date()) {
  const keyHash = hashKey(key);
  const row = await db.billingConfirmation.findUnique({ where: { keyHash } });
  const identity = row?.login as unknown as BillingIdentity | undefined;
  if (!row || !identity || identity.kind !== kind) throw confirmationLinkDead('unknown');
  if (row.expiresAt <= now) throw confirmationLinkDead('expired');
  return { identity, keyHash, used: row.usedAt !== null && confirmationSingleUse(identity) };
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
    // Zulip's own statuses and titles (JsonableError: 400), which a Zulip admin may know, over a page that says what to do.
    if (err.problem === 'expired') {
      throw new DeadLink(
        'expired',
        'This billing access link has expired: a link from your server works for a limited time.',
        { text: 'Open plan management again from your Zulip server to get a fresh link.' },
        { status: 400, title: 'Billing access token expired.' },
      );
    }
    throw new DeadLink('unknown', 'This billing access link is not valid.', { text: 'Start again from your server.' }, { status: 400, title: 'Invalid billing access token.' });
  }
}

/** How long after its issue an access link can still be renewed by viewing its page. */
const ACCESS_LINK_RENEWABLE_MS = 24 * 3600_000;

/**
 * The access link a page puts in its form: signed again, so a form left open
 * does not fail because the link behind it aged (Zulip signs a fresh one
 * after the email confirmation; here every view does). Renewal keeps the
 * issue time, so a link cannot be kept alive past a day by reloading it.
 */
export function renewAccessLink(signer: TokenSigner, token: string, kind: 'realm' | 'server', ttlMs: number, now = Date.now()): string {
  const fields = signer.parseAndVerify<AccessFields>(ACCESS_TOKEN, token, { bind: { kind } });
  const exp = Math.min(now + ttlMs, fields.iat + Math.max(ACCESS_LINK_RENEWABLE_MS, ttlMs));
  if (exp <= fields.exp) return token;
  const { hmac: _old, ...rest } = fields;
  return TokenSigner.serialize(signer.sign<AccessFields>(ACCESS_TOKEN, { ...rest, exp }));
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
