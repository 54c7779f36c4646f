import { createLocalJWKSet, JSONWebKeySet, jwtVerify } from 'jose';
import http from 'node:http';
import { serviceFor, startService, TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail, waitForEmails, emailsTo } from '../support/mailbox';
import { createApp } from '../../src/api/app';
import { listen } from '../../src/api/server';
import { close } from '../../src/shutdown';
import { freePort } from '../support/ports';
import { TokenSigner } from '../../src/shared/tokens';
import { hashPassword } from '../../src/shared/auth';
import { TRIAL_VERIFICATION } from '../../src/domain/trial';
import { trialStateQuery } from '../../src/workflows/trial/messages';
import { createTrialActivities } from '../../src/activities/trial';

const VERIFY_SUBJECT = /Verify your email to start your free trial/;
const PASSWORD = 'Trial-pass-123';

let svc: TestService;
beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => {
  await svc?.stop();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

const admin = { authorization: `Bearer ${process.env.ADMIN_TOKEN}` };

/** Registers, reads the real mail and returns the token from its link. */
async function registerAndReadToken(email: string, extra: Record<string, string> = {}): Promise<string> {
  const res = await call('POST', '/api/trial/register', { username: email, ...extra });
  expect(res.status).toBe(202);
  const mail = await waitForEmail(email, VERIFY_SUBJECT);
  return new URL(linkIn(mail, `${svc.baseUrl}/trial/register?token=`)).searchParams.get('token')!;
}

async function startedTrial(email: string) {
  const token = await registerAndReadToken(email);
  const created = await call('POST', '/api/trial/creation', { token, password: PASSWORD });
  expect(created.status).toBe(201);
  return { token, ...(created.json as { username: string; appId: number; trialEndsAt: string }) };
}

describe('free trial over HTTP', () => {
  it('registers, verifies through the mailed link, creates the account and app once, and reports infos', async () => {
    const email = uniqueEmail('trial');
    const token = await registerAndReadToken(email.toUpperCase().replace('@', '@'), { firstname: 'Ada', company: 'Acme' });

    const before = await call('GET', `/api/trial/infos?username=${encodeURIComponent(email)}`);
    expect(before.json).toMatchObject({ username: email, status: 'pending_verification', trialEndsAt: null, expired: false });

    const verified = await call('POST', '/api/trial/verify', { token });
    expect(verified).toMatchObject({ status: 200, json: { username: email } });
    // The auth service may check again while the form is shown.
    expect((await call('POST', '/api/trial/verify', { token })).status).toBe(200);

    const weak = await call('POST', '/api/trial/creation', { token, password: 'short' });
    expect(weak.status).toBe(400);
    expect(weak.json.reason).toMatch(/password/);

    const created = await call('POST', '/api/trial/creation', { token, password: PASSWORD, lastname: 'Lovelace' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ username: email, appId: expect.any(Number) });
    const endsIn = Date.parse(created.json.trialEndsAt) - Date.now();
    expect(endsIn).toBeGreaterThan(13.9 * 86_400_000);
    expect(endsIn).toBeLessThanOrEqual(14 * 86_400_000);

    // Exactly once: the second call is refused and nothing is duplicated.
    const again = await call('POST', '/api/trial/creation', { token, password: PASSWORD });
    expect(again.status).toBe(410);
    expect(again.json.code).toBe('token_used');
    expect(await svc.db.account.count({ where: { email } })).toBe(1);
    expect(await svc.db.app.count({ where: { id: created.json.appId } })).toBe(1);
    const account = await svc.db.account.findUniqueOrThrow({ where: { email } });
    expect(account).toMatchObject({ username: email, firstName: 'Ada', lastName: 'Lovelace' });
    const app = await svc.db.app.findUniqueOrThrow({ where: { id: created.json.appId } });
    expect(app).toMatchObject({ ownerAccountId: account.id, ownerPermission: 'owner', name: 'Acme trial app' });
    const trialRow = await svc.db.trial.findUniqueOrThrow({ where: { email } });
    expect(trialRow.tokenHash).not.toContain(token);
    expect(trialRow.usedAt).not.toBeNull();

    expect((await call('POST', '/api/trial/verify', { token })).status).toBe(410);

    const infos = await call('GET', `/api/trial/infos?username=${encodeURIComponent(email)}`);
    expect(infos.json).toEqual({ username: email, status: 'active', trialEndsAt: created.json.trialEndsAt, daysLeft: 14, expired: false });

    const state = await svc.temporal.workflow.getHandle(`trial/${email}`).query(trialStateQuery);
    expect(state).toMatchObject({ status: 'active', step: 'trial_running', appId: created.json.appId });
    const description = await svc.temporal.workflow.getHandle(`trial/${email}`).describe();
    expect(description.typedSearchAttributes.get({ name: 'FlowKind', type: 'KEYWORD' } as never)).toBe('trial');
  });

  it('creates the account exactly once when two creations race', async () => {
    const email = uniqueEmail('race');
    const token = await registerAndReadToken(email);
    const answers = await Promise.all([1, 2, 3].map(() => call('POST', '/api/trial/creation', { token, password: PASSWORD })));
    // The same link is the same request: all three get the one account's answer.
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(new Set(answers.map((a) => a.json.appId)).size).toBe(1);
    expect(await svc.db.account.count({ where: { email } })).toBe(1);
    const account = await svc.db.account.findUniqueOrThrow({ where: { email } });
    expect(await svc.db.app.count({ where: { ownerAccountId: account.id } })).toBe(1);
  });

  it('answers 409 when another flow made an account for the address, and the link stays usable', async () => {
    const email = uniqueEmail('taken');
    const token = await registerAndReadToken(email);
    const other = await svc.db.account.create({ data: { email, username: email, passwordHash: await hashPassword(PASSWORD) } });
    const refused = await call('POST', '/api/trial/creation', { token, password: PASSWORD });
    expect(refused.status).toBe(409);
    expect(refused.json.code).toBe('account_exists');
    expect(await svc.db.trial.findUniqueOrThrow({ where: { email } })).toMatchObject({ accountId: null, usedAt: null, status: 'pending_verification' });
    await svc.db.account.delete({ where: { id: other.id } });
    expect((await call('POST', '/api/trial/creation', { token, password: PASSWORD })).status).toBe(201);
  });

  it('creates the account once when the creation step runs again, and refuses an address without registration', async () => {
    const email = uniqueEmail('retry');
    await startedTrial(email);
    const { createTrialAccount } = createTrialActivities(svc.deps);
    const account = await svc.db.account.findUniqueOrThrow({ where: { email } });
    const input = { email, passwordHash: account.passwordHash, firstName: '', lastName: '', trialEndsAt: new Date().toISOString() };
    expect(await createTrialAccount(input)).toEqual({ accountId: account.id });
    expect(await svc.db.account.count({ where: { email } })).toBe(1);
    const stranger = uniqueEmail('stranger');
    await expect(createTrialAccount({ ...input, email: stranger })).rejects.toMatchObject({ type: 'TrialMissing', nonRetryable: true });
    expect(await svc.db.account.count({ where: { email: stranger } })).toBe(0);
  });

  it('does not reveal whether an address has an account, and mails "Welcome back" instead', async () => {
    const known = uniqueEmail('known');
    await svc.db.account.create({ data: { email: known, username: known, passwordHash: await hashPassword('Known-pass-1') } });
    const unknown = uniqueEmail('unknown');

    const a = await call('POST', '/api/trial/register', { username: known });
    const b = await call('POST', '/api/trial/register', { username: unknown });
    expect(a.status).toBe(202);
    expect(b.status).toBe(a.status);
    expect(b.text).toBe(a.text);

    const welcome = await waitForEmail(known, /Welcome back/);
    expect(linkIn(welcome, `${svc.baseUrl}/login`)).toBeTruthy();
    expect(welcome.text).toContain('/trial/password-reset');
    await waitForEmail(unknown, VERIFY_SUBJECT);
    expect(await emailsTo(known, VERIFY_SUBJECT)).toHaveLength(0);
    expect(await svc.db.trial.count({ where: { email: known } })).toBe(0);
  });

  it('re-sends the same link from the same flow, at most 3 mails per hour, then answers 429', async () => {
    const email = uniqueEmail('throttle');
    for (let i = 1; i <= 3; i++) {
      expect((await call('POST', '/api/legacy/trial/register', { username: email })).status).toBe(202);
      await waitForEmails(email, VERIFY_SUBJECT, i);
    }
    const fourth = await call('POST', '/api/trial/register', { username: email });
    expect(fourth.status).toBe(429);
    expect(fourth.json.reason).toMatch(/per hour/);
    const mails = await emailsTo(email, VERIFY_SUBJECT);
    expect(mails).toHaveLength(3);
    const links = new Set(mails.map((m) => linkIn(m, `${svc.baseUrl}/trial/register?token=`)));
    expect(links.size).toBe(1);
    const runs = [];
    for await (const wf of svc.temporal.workflow.list({ query: `WorkflowId = 'trial/${email}'` })) runs.push(wf);
    expect(runs).toHaveLength(1);
  });

  it('holds the throttle for a burst of simultaneous registrations', async () => {
    const email = uniqueEmail('burst');
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => call('POST', '/api/trial/register', { username: email })));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 202, 202, 429, 429]);
    await waitForEmails(email, VERIFY_SUBJECT, 3);
    const state = await svc.temporal.workflow.getHandle(`trial/${email}`).query(trialStateQuery);
    expect(state.verificationEmailsSent).toBe(3);
  });

  it('refuses bad input and bad tokens with clear 4xx answers', async () => {
    const invalid = await call('POST', '/api/trial/register', { username: 'not-an-email' });
    expect(invalid.status).toBe(400);
    expect(invalid.json.reason).toMatch(/^username: /);
    expect((await call('POST', '/api/trial/register', {})).status).toBe(400);
    expect((await call('POST', '/api/trial/verify', { token: 'garbage' })).status).toBe(404);
    expect((await call('POST', '/api/trial/verify', {})).status).toBe(400);

    const email = uniqueEmail('tamper');
    const token = await registerAndReadToken(email);
    const fields = TokenSigner.parse(token) as Record<string, unknown>;
    const tampered = TokenSigner.serialize({ ...fields, u: uniqueEmail('other') } as never);
    expect((await call('POST', '/api/trial/verify', { token: tampered })).status).toBe(404);

    // A genuine token past its TRIAL_VERIFICATION_TTL.
    const expired = TokenSigner.serialize(svc.deps.signer.sign(TRIAL_VERIFICATION, { ...(fields as object), exp: Date.now() - 1000 } as never));
    const gone = await call('POST', '/api/trial/verify', { token: expired });
    expect(gone.status).toBe(410);
    expect(gone.json.code).toBe('token_expired');
    expect((await call('POST', '/api/trial/creation', { token: expired, password: PASSWORD })).status).toBe(410);

    expect((await call('GET', '/api/trial/infos?username=nobody%40example.test')).status).toBe(404);
    expect((await call('GET', '/api/trial/infos')).status).toBe(400);
    const unparsable = await fetch(`${svc.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(unparsable.status).toBe(400);
  });

  it('lets an operator extend and complete a trial, and the user get an embed token', async () => {
    const email = uniqueEmail('ops');
    const trial = await startedTrial(email);

    expect((await call('POST', '/api/trial/extend', { username: email, days: 7 })).status).toBe(401);
    expect((await call('POST', '/api/trial/extend', { username: email, days: 7 }, { authorization: 'Bearer wrong' })).status).toBe(403);
    expect((await call('POST', '/api/trial/extend', { username: email, days: 0 }, admin)).status).toBe(400);
    const extended = await call('POST', '/api/trial/extend', { username: email, days: 7 }, admin);
    expect(extended.status).toBe(200);
    expect(Date.parse(extended.json.trialEndsAt) - Date.parse(trial.trialEndsAt)).toBe(7 * 86_400_000);
    expect((await call('GET', `/api/trial/infos?username=${email}`)).json).toMatchObject({ trialEndsAt: extended.json.trialEndsAt, daysLeft: 21 });

    const login = await call('POST', '/api/trial/login', { username: email, password: PASSWORD });
    expect(login.status).toBe(200);
    expect((await call('POST', '/api/trial/login', { username: email, password: 'Wrong-pass-1' })).status).toBe(401);
    const bearer = { authorization: `Bearer ${login.json.accessToken}` };
    expect((await call('POST', '/api/trial/embed-token', { username: email, appId: trial.appId })).status).toBe(401);
    const embed = await call('POST', '/api/trial/embed-token', { username: email, appId: trial.appId }, bearer);
    expect(embed.status).toBe(200);
    expect(Date.parse(embed.json.expiresAt) - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    const { payload } = await jwtVerify(embed.json.token, createLocalJWKSet(svc.deps.embedSigner.jwks() as JSONWebKeySet), { audience: 'trial-app-embed' });
    const accountId = (TokenSigner.parse(login.json.accessToken) as { sub: number }).sub;
    expect(payload).toMatchObject({ app: trial.appId, sub: String(accountId), aud: 'trial-app-embed' });
    expect((await call('POST', '/api/trial/embed-token', { username: email, appId: trial.appId + 100000 }, bearer)).status).toBe(404);
    expect((await call('POST', '/api/trial/embed-token', { username: uniqueEmail('x'), appId: trial.appId }, bearer)).status).toBe(403);

    const completed = await call('POST', '/api/trial/completion', { username: email }, admin);
    expect(completed).toMatchObject({ status: 200, json: { username: email, status: 'converted' } });
    expect((await call('GET', `/api/trial/infos?username=${email}`)).json).toMatchObject({ status: 'converted', expired: false });
    await svc.temporal.workflow.getHandle(`trial/${email}`).result();
    // Retrying the completion is harmless; extending a converted trial is not possible.
    expect((await call('POST', '/api/trial/completion', { username: email }, admin)).status).toBe(200);
    expect((await call('POST', '/api/trial/extend', { username: email, days: 3 }, admin)).status).toBe(409);
    expect((await call('POST', '/api/trial/extend', { username: uniqueEmail('none'), days: 3 }, admin)).status).toBe(404);
  });

  it('refuses operator endpoints with a clear reason when no ADMIN_TOKEN is configured', async () => {
    const port = await freePort();
    const server: http.Server = await listen(createApp({ ...svc.deps, config: { ...svc.config, adminToken: undefined }, temporal: svc.temporal }), port);
    try {
      const res = await fetch(`http://localhost:${port}/api/trial/completion`, { method: 'POST', headers: { 'content-type': 'application/json', ...admin }, body: JSON.stringify({ username: 'a@b.test' }) });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { reason: string }).reason).toMatch(/ADMIN_TOKEN/);
    } finally {
      await close(server);
    }
  });
});

describe('the product name (APP_NAME)', () => {
  const toucanService = serviceFor({ APP_NAME: 'Toucan' });

  it('names the product in mails, their sender and every page instead of flowgate', async () => {
    const toucan = toucanService();
    const known = uniqueEmail('toucan-known');
    await toucan.db.account.create({ data: { email: known, username: known, passwordHash: await hashPassword('Known-pass-1') } });
    expect((await fetch(`${toucan.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: known }) })).status).toBe(202);
    const welcome = (await waitForEmail(known, /Welcome back/)) as Awaited<ReturnType<typeof waitForEmail>> & { from: { name: string; address: string }[] };
    expect(welcome.subject).toBe('Welcome back to Toucan');
    expect(welcome.from).toEqual([{ name: 'Toucan', address: 'no-reply@localhost' }]);
    expect(welcome.text + welcome.html).not.toMatch(/flowgate/i);

    const fresh = uniqueEmail('toucan-new');
    await fetch(`${toucan.baseUrl}/repo/v1/account/emailValidation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: fresh, firstName: 'T', lastName: 'C' }) });
    expect((await waitForEmail(fresh, /Welcome to/)).subject).toBe('Welcome to Toucan');

    for (const path of ['/login', '/trial/register?token=nonsense', '/join/sign-in']) {
      const page = await (await fetch(`${toucan.baseUrl}${path}`)).text();
      expect(page).toMatch(/<title>[^<]+ · Toucan<\/title>/);
      expect(page).not.toMatch(/flowgate/i);
    }
  });
});
