// The contract, enforced: every documented example is sent to a running
// service (as documented, with the values only a real flow can give: tokens
// from mails, ids, credentials), and every answer is checked against the
// OpenAPI document: status, the headers that matter, the body, no field or
// status it does not list; and against the example itself, so the examples
// say what the service answers. Every JSON route the app answers is
// documented, the routers' and the codec endpoint's.
import crypto from 'node:crypto';
import type Router from '@koa/router';
import { createApp } from '../../src/api/app';
import { asPages } from '../../src/api/http';
import type { Credential } from '../../src/api/contract';
import { CONTRACTS, formFields, openApiJson } from '../../src/api/openapi';
import { KEY_ID_METADATA } from '../../src/shared/codec';
import { TokenSigner } from '../../src/shared/tokens';
import { RESENDS_PER_DAY } from '../../src/workflows/invitation/messages';
import { Answered, ContractChecker } from '../support/contract';
import { startService, TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';

const SERVICE_TOKEN = 'contract-service-token-0123456789abcdef';
const OPERATIONS = new Map(CONTRACTS.flatMap(({ operations }) => Object.entries(operations)));
const checker = new ContractChecker(JSON.parse(openApiJson()));
const replayed = new Set<string>();
// Limits count per client address: this file speaks from its own.
const CLIENT_IP = `10.${crypto.randomInt(256)}.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}`;

let service: TestService;
beforeAll(async () => {
  service = await startService({ TRIAL_SERVICE_TOKEN: SERVICE_TOKEN, TRUST_PROXY: '1' });
});
afterAll(() => service?.stop());

/** Raw credential values, as each scheme's header carries them. */
const HEADER: Record<Credential, (value: string) => [string, string]> = {
  account: (token) => ['Authorization', `Bearer ${token}`],
  operator: (key) => ['Authorization', `Bearer ${key}`],
  trialService: (token) => ['X-Service-Token', token],
  zulipServer: (uuidAndKey) => ['Authorization', `Basic ${Buffer.from(uuidAndKey).toString('base64')}`],
  invitationLink: (token) => ['X-Invitation-Token', token],
};
const WRONG: Record<Credential, string> = {
  account: TokenSigner.serialize(new TokenSigner('not-the-secret-0123456789abcdef0123456789').sign('access', { sub: 1, gen: 0, exp: Date.now() + 3600_000 })),
  operator: 'not-the-operator-key-0123456789abcdef',
  trialService: 'not-the-service-token-0123456789abcdef',
  zulipServer: `${crypto.randomUUID()}:${'0'.repeat(64)}`,
  invitationLink: 'not-a-token',
};

/** What only a running flow can give an example: merged over the documented request. */
interface Live {
  path?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Record<string, unknown>;
  credentials?: Partial<Record<Credential, string>>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Sends the documented example `name` of `route` and checks the answer against the document. */
async function replay(route: string, name: string, live: Live = {}): Promise<Answered & { body: Json }> {
  const op = OPERATIONS.get(route);
  const example = op?.examples[name];
  if (!op || !example) throw new Error(`${route} has no example "${name}"`);
  const [method, routerPath] = route.split(' ');
  const params = { ...example.path, ...live.path };
  const url = new URL(
    service.baseUrl +
      routerPath.replace(/:([A-Za-z0-9_]+)/g, (_, param: string) => {
        if (params[param] === undefined) throw new Error(`${route} ${name}: no value for :${param}`);
        return encodeURIComponent(params[param]);
      }),
  );
  for (const [key, value] of Object.entries({ ...example.query, ...live.query })) url.searchParams.set(key, value);
  const credentials: Record<string, string> = {};
  const defaults: Partial<Record<Credential, string>> = { operator: service.config.adminToken, trialService: SERVICE_TOKEN };
  for (const scheme of new Set((op.security ?? []).flat())) {
    const how = example.credentials?.[scheme];
    const value = how === 'wrong' ? WRONG[scheme] : how === 'omitted' ? undefined : (live.credentials?.[scheme] ?? defaults[scheme]);
    if (value === undefined) continue;
    const [header, headerValue] = HEADER[scheme](value);
    credentials[header] = headerValue;
  }
  const body = example.body === undefined && live.body === undefined ? undefined : { ...(example.body as object), ...live.body };
  const res = await fetch(url, {
    method,
    redirect: 'manual',
    headers: { 'X-Forwarded-For': CLIENT_IP, ...example.headers, ...live.headers, ...credentials, ...(body ? { 'Content-Type': op.form ? 'application/x-www-form-urlencoded' : 'application/json' } : {}) },
    // A form body as Python's `requests` encodes a Zulip server's: objects and lists as JSON text in a field.
    body: body === undefined ? undefined : op.form ? new URLSearchParams(formFields(body)).toString() : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text || undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: the checker says so by the content type.
  }
  const answer = { status: res.status, headers: res.headers, contentType: res.headers.get('content-type'), body: parsed };
  expect({ route, name, status: answer.status, problems: checker.answerProblems(route, answer) }).toEqual({ route, name, status: example.status, problems: [] });
  // The documented answer is this one: the same fields, the same code, the same words but for ids and addresses.
  const documented = example.answer as Record<string, unknown> | undefined;
  if (isObject(documented) && isObject(answer.body)) {
    const wording = (object: Record<string, unknown>) => ({ fields: Object.keys(object).sort(), code: object.code, reason: sentence(object.reason ?? object.msg) });
    expect({ route, name, ...wording(answer.body) }).toEqual({ route, name, ...wording(documented) });
  }
  replayed.add(`${route} ${name}`);
  return answer;
}

const sentence = (text: unknown) => (typeof text === 'string' ? variablesOut(text) : undefined);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A sentence with its ids, links and quoted names replaced by placeholders. */
function variablesOut(sentence: string): string {
  return sentence
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/https?:\/\/[^\s,]+\//g, '<url>')
    .replace(/"[^"]*"/g, '"<name>"');
}

/** The same request `times` times, each answered as the example says: e.g. failures before a limit. */
async function replayTimes(times: number, route: string, name: string, live: Live = {}): Promise<void> {
  for (let i = 0; i < times; i++) await replay(route, name, live);
}

/* ---- tokens a real flow mails ---- */

async function trialToken(email: string): Promise<string> {
  const link = linkIn(await waitForEmail(email, /Verify your email/), `${service.baseUrl}/trial/register?token=`);
  return new URL(link).searchParams.get('token')!;
}

async function emailValidation(email: string): Promise<Json> {
  const prefix = `${service.baseUrl}/join/account/`;
  const link = linkIn(await waitForEmail(email, 'Welcome to flowgate'), prefix);
  return (TokenSigner.parse(link.slice(prefix.length)) as { emailValidationSignedToken: Json }).emailValidationSignedToken;
}

/** The serialized MembershipInvtnSignedToken of the invitation mail. */
async function invitationLinkToken(email: string, teamName: string): Promise<string> {
  const prefix = `${service.baseUrl}/join/invitation/`;
  return linkIn(await waitForEmail(email, `You are invited to join ${teamName}`), prefix).slice(prefix.length);
}

const tag = (word: string) => `${word}-${crypto.randomBytes(3).toString('hex')}`;

/** An account made through the documented sign-up: the validation mail, then the account. */
async function signUp(word: string) {
  const email = uniqueEmail(`contract-${word}`);
  await replay('POST /repo/v1/account/emailValidation', 'requested', { body: { email, firstName: word } });
  const username = tag(word);
  const created = await replay('POST /repo/v1/account', 'created', { body: { username, firstName: word, emailValidationSignedToken: await emailValidation(email) } });
  const accessToken: string = created.body.accessToken;
  return { email, username, accessToken, id: String((TokenSigner.parse(accessToken) as { sub: number }).sub) };
}

describe('the API, replayed from its OpenAPI document', () => {
  it('serves the document it was generated from', async () => {
    const answer = await replay('GET /openapi.json', 'document');
    expect(answer.body).toEqual(JSON.parse(openApiJson()));
    await replay('GET /healthz', 'alive');
    await replay('GET /readyz', 'ready');
  });

  it('free trial: registration, the auth service, the trial user, operators', async () => {
    const R = {
      register: 'POST /api/trial/register',
      verify: 'POST /api/trial/verify',
      creation: 'POST /api/trial/creation',
      infos: 'GET /api/trial/infos',
      login: 'POST /api/trial/login',
      embed: 'POST /api/trial/embed-token',
      extend: 'POST /api/trial/extend',
      completion: 'POST /api/trial/completion',
    };
    const ada = uniqueEmail('contract-trial');
    await replay(R.register, 'accepted', { body: { username: ada } });
    await replay(R.register, 'notAnEmail');
    const busy = uniqueEmail('contract-busy');
    await replayTimes(3, R.register, 'accepted', { body: { username: busy } });
    await replay(R.register, 'tooManyMails', { body: { username: busy } });
    const pending = uniqueEmail('contract-pending');
    await replay('POST /api/legacy/trial/register', 'accepted', { body: { username: pending } });

    const token = await trialToken(ada);
    expect((await replay(R.verify, 'valid', { body: { token } })).body).toEqual({ username: ada });
    await replay(R.verify, 'forged');
    await replay(R.verify, 'noServiceToken');
    await replay(R.verify, 'wrongServiceToken');
    await replay(R.creation, 'weakPassword', { body: { token } });
    const { appId } = (await replay(R.creation, 'created', { body: { token } })).body;
    await replay(R.creation, 'again', { body: { token } });
    await replay(R.verify, 'used', { body: { token } });
    await replay(R.infos, 'running', { query: { username: ada } });
    await replay(R.infos, 'unknown', { query: { username: uniqueEmail('contract-nobody') } });

    const { accessToken } = (await replay(R.login, 'signedIn', { body: { username: ada } })).body;
    await replay(R.login, 'wrongPassword', { body: { username: ada } });
    const guessed = uniqueEmail('contract-guessed');
    await replayTimes(5, R.login, 'wrongPassword', { body: { username: guessed } });
    await replay(R.login, 'backingOff', { body: { username: guessed } });

    const user = { credentials: { account: accessToken } };
    await replay(R.embed, 'issued', { ...user, body: { username: ada, appId } });
    await replay(R.embed, 'notYours', user);
    await replay(R.embed, 'unknownApp', { ...user, body: { username: ada, appId: 2_147_483_647 } });
    await replay(R.embed, 'noAccessToken', { body: { username: ada, appId } });
    await replay('GET /.well-known/jwks.json', 'keys');

    await replay(R.extend, 'extended', { body: { username: ada } });
    await replay(R.extend, 'noKey');
    await replay(R.extend, 'wrongKey');
    await replay(R.completion, 'converted', { body: { username: ada } });
    await replay(R.extend, 'converted', { body: { username: ada } });
    await replay(R.completion, 'notStarted', { body: { username: pending } });
    await replay(R.completion, 'unknown', { body: { username: uniqueEmail('contract-nobody') } });
  });

  it('accounts, teams and invitations: sign-up, sign-in, invite, verify, bind, join, withdraw', async () => {
    const EMAIL_VALIDATION = 'POST /repo/v1/account/emailValidation';
    const ACCOUNT = 'POST /repo/v1/account';
    const LOGIN = 'POST /auth/v1/login';
    const INVITE = 'POST /repo/v1/membershipInvitation';
    const MEMBER = 'PUT /repo/v1/team/:id/member/:principalId';

    const admin = await signUp('admin');
    await replay(EMAIL_VALIDATION, 'offSitePortal');
    await replay(EMAIL_VALIDATION, 'forgedInvitation');

    // Grace signs up in steps, so the refusals of account creation can be seen on the way.
    const graceEmail = uniqueEmail('contract-grace');
    await replay(EMAIL_VALIDATION, 'requested', { body: { email: graceEmail } });
    const graceValidation = await emailValidation(graceEmail);
    await replay(ACCOUNT, 'badUsername', { body: { emailValidationSignedToken: graceValidation } });
    await replay(ACCOUNT, 'tampered');
    await replay(ACCOUNT, 'usernameTaken', { body: { username: admin.username, emailValidationSignedToken: graceValidation } });
    const created = await replay(ACCOUNT, 'created', { body: { username: tag('grace'), emailValidationSignedToken: graceValidation } });
    const grace = { email: graceEmail, accessToken: created.body.accessToken as string, id: String((TokenSigner.parse(created.body.accessToken) as { sub: number }).sub) };
    await replay(ACCOUNT, 'alreadyCreated', { body: { username: tag('grace'), emailValidationSignedToken: graceValidation } });

    await replay(LOGIN, 'signedIn', { body: { username: admin.username } });
    await replay(LOGIN, 'wrongPassword', { body: { username: admin.username } });
    const guessed = tag('guessed');
    await replayTimes(5, LOGIN, 'wrongPassword', { body: { username: guessed } });
    await replay(LOGIN, 'backingOff', { body: { username: guessed } });

    const asAdmin = { credentials: { account: admin.accessToken } };
    const teamName = tag('Crew');
    const team = (await replay('POST /repo/v1/team', 'created', { ...asAdmin, body: { name: teamName } })).body;
    await replay('POST /repo/v1/team', 'emptyName', asAdmin);
    await replay('POST /repo/v1/team', 'noAccessToken');
    const bob = await signUp('bob');
    const asBob = { credentials: { account: bob.accessToken } };
    expect((await replay('GET /repo/v1/team/:id', 'found', { ...asAdmin, path: { id: team.id } })).body).toEqual(team);
    await replay('GET /repo/v1/team/:id', 'notYours', { ...asBob, path: { id: team.id } });
    await replay('GET /repo/v1/team/:id', 'unknown', asAdmin);
    await replay('GET /repo/v1/team/:id', 'noAccessToken', { path: { id: team.id } });
    await replay('GET /repo/v1/teamMembers/:id', 'found', { ...asAdmin, path: { id: team.id } });
    await replay('GET /repo/v1/teamMembers/:id', 'notYours', { ...asBob, path: { id: team.id } });
    await replay('GET /repo/v1/teamMembers/:id', 'unknown', asAdmin);
    await replay('GET /repo/v1/teamMembers/:id', 'noAccessToken', { path: { id: team.id } });
    const asGrace = { credentials: { account: grace.accessToken } };
    const key = crypto.randomUUID();
    const alanEmail = uniqueEmail('contract-alan');
    const invited = (await replay(INVITE, 'invited', { ...asAdmin, headers: { 'Idempotency-Key': key }, body: { teamId: team.id, inviteeEmail: grace.email } })).body;
    expect((await replay(INVITE, 'retried', { ...asAdmin, headers: { 'Idempotency-Key': key }, body: { teamId: team.id, inviteeEmail: grace.email } })).body.id).toBe(invited.id);
    await replay(INVITE, 'keyReused', { ...asAdmin, headers: { 'Idempotency-Key': key }, body: { teamId: team.id, inviteeEmail: alanEmail } });
    await replay(INVITE, 'bothInvitees', asAdmin);
    await replay(INVITE, 'notAdmin', { ...asBob, body: { teamId: team.id, inviteeEmail: alanEmail } });
    await replay(INVITE, 'alreadyMember', { ...asAdmin, body: { teamId: team.id, inviteeId: admin.id } });
    await replay('GET /repo/v1/membershipInvitation/statistics', 'counts', { ...asAdmin, query: { teamId: team.id } });
    await replay('GET /repo/v1/membershipInvitation/statistics', 'notAdmin', { ...asBob, query: { teamId: team.id } });
    await replay('GET /repo/v1/team/:id/openInvitation', 'open', { ...asAdmin, path: { id: team.id } });
    await replay('GET /repo/v1/team/:id/openInvitation', 'notAdmin', { ...asBob, path: { id: team.id } });

    const RESEND = 'POST /repo/v1/membershipInvitation/:id/resend';
    await replay(RESEND, 'notAdmin', { ...asBob, path: { id: invited.id } });
    await replayTimes(RESENDS_PER_DAY, RESEND, 'resent', { ...asAdmin, path: { id: invited.id } });
    await replay(RESEND, 'tooOften', { ...asAdmin, path: { id: invited.id } });

    // A notice to Bob's account carries the unsubscribe link whose token the client's own page sends.
    const otherTeam = (await replay('POST /repo/v1/team', 'created', { ...asAdmin, body: { name: tag('Guild') } })).body;
    await replay(INVITE, 'toAccount', { ...asAdmin, body: { teamId: otherTeam.id, inviteeId: bob.id } });
    const unsubscribeLink = linkIn(await waitForEmail(bob.email, /You are invited/), `${service.baseUrl}/join/unsubscribe/`);
    const unsubscribeToken = TokenSigner.parse(unsubscribeLink.slice(`${service.baseUrl}/join/unsubscribe/`.length)) as Record<string, unknown>;
    await replay('POST /repo/v1/notificationUnsubscribe', 'tampered', { body: { ...unsubscribeToken, hmac: 'A'.repeat(43) } });
    await replay('POST /repo/v1/notificationUnsubscribe', 'unsubscribed', { body: unsubscribeToken });

    const linkToken = await invitationLinkToken(grace.email, teamName);
    const invitation = { path: { id: invited.id } };
    await replay('POST /repo/v1/membershipInvitation/:id', 'read', { ...invitation, body: TokenSigner.parse(linkToken) as Record<string, unknown> });
    await replay('POST /repo/v1/membershipInvitation/:id', 'tampered', invitation);

    const VERIFY = 'GET /repo/v1/membershipInvitation/:id/inviteeVerificationSignedToken';
    expect((await replay(VERIFY, 'mailed', { ...invitation, credentials: { account: bob.accessToken, invitationLink: linkToken } })).body.verificationEmailSent).toBe(true);
    await replay(VERIFY, 'notInvitee', { ...invitation, ...asBob });
    const verification = (await replay(VERIFY, 'verified', { ...invitation, ...asGrace })).body;

    const BIND = 'PUT /repo/v1/membershipInvitation/:id/inviteeId';
    await replay(BIND, 'otherAccount', { ...invitation, ...asBob, body: verification });
    await replay(BIND, 'tampered', { ...invitation, ...asGrace });
    expect((await replay(BIND, 'bound', { ...invitation, ...asGrace, body: verification })).body.inviteeId).toBe(grace.id);

    await replay(MEMBER, 'notInvited', { ...asBob, path: { id: team.id, principalId: bob.id } });
    await replay(MEMBER, 'joined', { ...asGrace, path: { id: team.id, principalId: grace.id } });
    await replay(MEMBER, 'added', { ...asAdmin, path: { id: team.id, principalId: bob.id } });
    await replay(MEMBER, 'unknownTeam', asAdmin);

    const WITHDRAW = 'DELETE /repo/v1/membershipInvitation/:id';
    const alanInvitation = (await replay(INVITE, 'invited', { ...asAdmin, headers: { 'Idempotency-Key': crypto.randomUUID() }, body: { teamId: team.id, inviteeEmail: alanEmail } })).body;
    await replay(WITHDRAW, 'notAllowed', { ...asBob, path: { id: alanInvitation.id } });
    await replay(WITHDRAW, 'withdrawn', { ...asAdmin, path: { id: alanInvitation.id } });
    await replay(WITHDRAW, 'unknown', asAdmin);
    const alanLink = TokenSigner.parse(await invitationLinkToken(alanEmail, teamName)) as Record<string, unknown>;
    await replay('POST /repo/v1/membershipInvitation/:id', 'withdrawn', { path: { id: alanInvitation.id }, body: alanLink });
    await replay(RESEND, 'withdrawn', { ...asAdmin, path: { id: alanInvitation.id } });

    await replay('POST /auth/v1/logout', 'signedOut', asBob);
    await replay('POST /auth/v1/logout', 'noAccessToken');
  }, 180_000);

  it('self-hosted servers: registration, analytics upload, billing access URLs, in the encodings Zulip sends', async () => {
    const REGISTER = 'POST /api/v1/remotes/server/register';
    const STATUS = 'GET /api/v1/remotes/server/analytics/status';
    const ANALYTICS = 'POST /api/v1/remotes/server/analytics';
    const BILLING = 'POST /api/v1/remotes/server/billing';
    const newServer = () => ({ uuid: crypto.randomUUID(), key: crypto.randomBytes(32).toString('hex') });
    const server = newServer();
    const registration = { zulip_org_id: server.uuid, zulip_org_key: server.key };
    expect((await replay(REGISTER, 'registered', { body: registration })).body.created).toBe(true);
    expect((await replay(REGISTER, 'updated', { body: registration })).body.created).toBe(false);
    await replay(REGISTER, 'wrongKey', { body: { zulip_org_id: server.uuid } });
    await replay(REGISTER, 'badHostname');

    const asServer = { credentials: { zulipServer: `${server.uuid}:${server.key}` } };
    const realm = { uuid: crypto.randomUUID(), host: `${tag('org')}.chat.example.test`, name: 'Example Org' };
    await replay(BILLING, 'unknownRealm', { ...asServer, body: { realm: { uuid: realm.uuid } } });
    expect(Object.keys((await replay(ANALYTICS, 'uploaded', { ...asServer, body: { realms: [realm] } })).body.realms)).toEqual([realm.uuid]);
    expect((await replay(STATUS, 'status', asServer)).body.last_realm_count_id).toBe(7);
    await replay(STATUS, 'noCredentials');
    await replay(ANALYTICS, 'noCredentials');
    await replay(ANALYTICS, 'unknownServer');
    const other = newServer();
    await replay(REGISTER, 'registered', { body: { zulip_org_id: other.uuid, zulip_org_key: other.key } });
    await replay(ANALYTICS, 'anotherServersRealm', { credentials: { zulipServer: `${other.uuid}:${other.key}` }, body: { realms: [realm] } });

    const url = (await replay(BILLING, 'accessUrl', { ...asServer, body: { realm: { uuid: realm.uuid } } })).body.billing_access_url;
    expect(url.startsWith(`${service.baseUrl}/remote-billing-login/`)).toBe(true);
    await replay(BILLING, 'badNextPage', { ...asServer, body: { realm: { uuid: realm.uuid } } });
  });

  it('the codec endpoint: encode, decode, refusals, CORS', async () => {
    const ENCODE = 'POST /codec/encode';
    const DECODE = 'POST /codec/decode';
    const [origin] = service.config.codecCorsOrigins;
    const namespace = service.config.temporal.namespace;
    const plain = OPERATIONS.get(ENCODE)!.examples.encoded.body;
    // The documented payloads are sealed under a key this service does not have: its own sealed ones stand in.
    const sealed = (await replay(ENCODE, 'encoded')).body;
    expect((await replay(DECODE, 'decoded', { body: sealed })).body).toEqual(plain);
    await replay(DECODE, 'plain');
    const fromUi = await replay(DECODE, 'fromWebUi', { headers: { Origin: origin, 'X-Namespace': namespace }, body: sealed });
    expect([fromUi.headers.get('access-control-allow-origin'), fromUi.body]).toEqual([origin, plain]);
    for (const route of [ENCODE, DECODE]) {
      await replay(route, 'noKey');
      await replay(route, 'wrongKey');
    }
    await replay(DECODE, 'unknownKey');
    const ownKey = Buffer.from(service.config.payloadKeys.current).toString('base64');
    const altered = OPERATIONS.get(DECODE)!.examples.altered.body as { payloads: { metadata: Record<string, string> }[] };
    await replay(DECODE, 'altered', { body: { payloads: altered.payloads.map((p) => ({ ...p, metadata: { ...p.metadata, [KEY_ID_METADATA]: ownKey } })) } });
    await replay(ENCODE, 'otherOrigin');
    await replay(ENCODE, 'otherNamespace');
    await replay(ENCODE, 'notPayloads');
    await replay(ENCODE, 'notBase64');
    await replay(ENCODE, 'notJson');
    await replay(ENCODE, 'tooLarge', { body: { payloads: [{ data: 'A'.repeat(5 * 1024 * 1024) }] } });
    for (const route of ['OPTIONS /codec/encode', 'OPTIONS /codec/decode']) {
      const preflight = await replay(route, 'preflight', { headers: { Origin: origin } });
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
      await replay(route, 'otherOrigin');
    }
  });

  it('replayed every documented example', () => {
    const documented = CONTRACTS.flatMap(({ operations }) => Object.entries(operations).flatMap(([route, op]) => Object.keys(op.examples).map((name) => `${route} ${name}`)));
    expect(documented.filter((example) => !replayed.has(example))).toEqual([]);
    expect(replayed.size).toBe(documented.length);
  });

  it('documents every JSON route the app answers, and no other', () => {
    const app = createApp({ ...service.deps, temporal: service.temporal });
    const registered: string[] = [];
    for (const middleware of app.middleware as Array<{ router?: Router; jsonRoutes?: string[] }>) {
      // Middleware that answers routes of its own, ahead of the routers (the codec endpoint), names them.
      registered.push(...(middleware.jsonRoutes ?? []));
      const { router } = middleware;
      // Pages answer in HTML; src/api/pages.ts renders them.
      if (!router || router.stack.some((layer) => layer.stack.includes(asPages))) continue;
      for (const layer of router.stack) for (const method of layer.methods) if (method !== 'HEAD' && method !== 'OPTIONS') registered.push(`${method} ${layer.path}`);
    }
    expect(registered.length).toBeGreaterThan(20);
    expect(registered).toEqual(expect.arrayContaining(['POST /codec/encode', 'POST /codec/decode']));
    expect(registered.sort()).toEqual([...OPERATIONS.keys()].sort());
  });
});
