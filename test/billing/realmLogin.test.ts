import crypto from 'node:crypto';
import type { TestService } from '../support/service';
import { firstForm } from '../support/pageClient';
import { linkIn, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';
import { WorkflowUpdateStage } from '@temporalio/client';
import { issueAccessToken } from '../../src/domain/billing';
import { hashKey } from '../../src/shared/tokens';
import type { billingLoginWorkflow } from '../../src/workflows/billing/workflow';
import { confirmEmailUpdate, confirmLoginUpdate } from '../../src/workflows/billing/messages';
import { api, basicAuth, billingAccessUrl, DemoServer, newUser, PageClient, realmInfo, realmsUpload, registerDemoServer, startBillingService, zulipApi } from './helpers';

const CONFIRM_SUBJECT = 'Confirm email for plan management';

describe('self-hosted billing login (realm)', () => {
  let service: TestService;
  let server: DemoServer;

  beforeAll(async () => {
    service = await startBillingService();
    server = await registerDemoServer(service.baseUrl);
  });
  afterAll(() => service.stop());

  /** Access URL → email form (prefilled) → "Check your email". */
  async function askForConfirmationMail(client: PageClient, url: string, email: string) {
    const form = await client.get(url);
    expect(form.status).toBe(200);
    expect(form.text).toContain(`value="${email}"`);
    expect((await client.post(new URL(url).pathname + '/confirm/', { email })).h1).toBe('Check your email');
  }

  /** Access URL → email form → mail → link → confirm-login page. */
  async function confirmEmailThroughPages(client: PageClient, email: string, nextPage?: string) {
    const user = newUser(email);
    const url = await billingAccessUrl(service.baseUrl, server, user, nextPage);
    await askForConfirmationMail(client, url, email);
    const mail = await waitForEmail(email, CONFIRM_SUBJECT);
    const confirmPage = await client.follow(await client.get(linkIn(mail, `${service.baseUrl}/remote-billing-login/do_confirm/`)));
    expect(confirmPage.h1).toBe('Confirm login');
    return { user, url, confirmPage, mail };
  }

  it('first login: email confirmation, terms of service, session, then the page asked for', async () => {
    const client = new PageClient(service.baseUrl);
    const email = uniqueEmail('billing');
    const { user, confirmPage } = await confirmEmailThroughPages(client, email, 'upgrade');
    expect(confirmPage.text).toContain('tos_consent');
    const action = /<form method="post" action="([^"]+)"/.exec(confirmPage.text)![1];

    const loggedIn = await client.post(action, { full_name: 'Iago Billing', tos_consent: 'on', enable_major_release_emails: 'on' });
    expect(loggedIn.status).toBe(303);
    expect(loggedIn.location).toBe(`/realm/${server.realm.uuid}/upgrade/`);
    const page = await client.get(loggedIn.location!);
    expect(page.status).toBe(200);
    expect(page.h1).toBe('Upgrade');
    expect(page.text).toContain('Iago Billing');
    expect(page.text).toContain(server.realm.name);

    const realm = await service.db.remoteRealm.findUniqueOrThrow({ where: { uuid: server.realm.uuid } });
    const billingUser = await service.db.remoteRealmBillingUser.findUniqueOrThrow({ where: { realmId_userUuid: { realmId: realm.id, userUuid: user.uuid } } });
    expect(billingUser).toMatchObject({ email, fullName: 'Iago Billing', tosVersion: '1.0', enableMajorReleaseEmails: true, enableMaintenanceReleaseEmails: false });
    expect(billingUser.lastLogin).not.toBeNull();

    // The workflow recorded the login and ended.
    const handle = service.temporal.workflow.getHandle(`billing-login/${server.realm.uuid}/${user.uuid}`);
    expect(await handle.result()).toEqual({ outcome: 'logged_in', billingUserId: billingUser.id });

    // The session cookie is httpOnly and SameSite=Lax.
    const res = await fetch(`${service.baseUrl}/realm/${server.realm.uuid}/plans/`, { headers: { Cookie: `fg_billing_session=${client.cookie('fg_billing_session')}` } });
    expect(res.status).toBe(200);
  });

  it('a returning billing user goes straight to confirm-login, without terms when already accepted', async () => {
    const client = new PageClient(service.baseUrl);
    const email = uniqueEmail('again');
    const { user, confirmPage } = await confirmEmailThroughPages(client, email);
    const action = /<form method="post" action="([^"]+)"/.exec(confirmPage.text)![1];
    expect((await client.post(action, { full_name: 'First', tos_consent: 'on' })).status).toBe(303);

    const second = new PageClient(service.baseUrl);
    const url = await billingAccessUrl(service.baseUrl, server, user);
    const page = await second.get(url);
    expect(page.h1).toBe('Confirm login');
    expect(page.text).not.toContain('tos_consent');
    expect(page.text).toContain('value="First"');
    const done = await second.post(new URL(url).pathname, { full_name: 'Second' });
    expect(done.location).toBe(`/realm/${server.realm.uuid}/plans/`);
    expect((await second.get(done.location!)).text).toContain('Second');
    expect(await waitForEmails(email, CONFIRM_SUBJECT)).toHaveLength(1);
  });

  it('lands on the billing page without next_page when the organization has a plan, else on the plans page', async () => {
    const customer = await registerDemoServer(service.baseUrl);
    await service.db.remoteRealm.update({ where: { uuid: customer.realm.uuid }, data: { plan: 'Business' } });
    const client = new PageClient(service.baseUrl);
    const email = uniqueEmail('customer');
    const url = await billingAccessUrl(service.baseUrl, customer, newUser(email));
    await askForConfirmationMail(client, url, email);
    const confirm = await client.follow(await client.get(linkIn(await waitForEmail(email, CONFIRM_SUBJECT), service.baseUrl)));
    const loggedIn = await client.submit(confirm, { full_name: 'Paying Customer', tos_consent: 'on' });
    expect(loggedIn.location).toBe(`/realm/${customer.realm.uuid}/billing/`);
    const page = await client.get(loggedIn.location!);
    expect(page.h1).toBe('Billing');
    expect(page.text).toContain('<dd id="plan">Business</dd>');
  });

  it('signs the access link again on each view, so a form left open outlives the link it came from', async () => {
    const client = new PageClient(service.baseUrl);
    const email = uniqueEmail('aging');
    const { user, confirmPage } = await confirmEmailThroughPages(client, email);
    expect((await client.submit(confirmPage, { full_name: 'First', tos_consent: 'on' })).status).toBe(303);
    await service.temporal.workflow.getHandle(`billing-login/${server.realm.uuid}/${user.uuid}`).result();

    // An access link opened a moment before it expires.
    const ttl = service.config.ttl.billingAccessToken;
    const identity = { kind: 'realm' as const, serverUuid: server.uuid, realmUuid: server.realm.uuid, userUuid: user.uuid, email, fullName: 'First', uriScheme: 'https://', nextPage: null };
    const aging = issueAccessToken(service.deps.signer, identity, ttl, Date.now() - ttl + 1500);
    const page = await client.get(`/remote-billing-login/${aging}`);
    expect(page.h1).toBe('Confirm login');
    expect(firstForm(page).action).not.toBe(`/remote-billing-login/${aging}`);
    const deadline = Date.now() + 10_000;
    while ((await client.get(`/remote-billing-login/${aging}`)).status !== 400) {
      if (Date.now() > deadline) throw new Error('the access link did not expire');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The form from before the expiry still logs in.
    const done = await client.submit(page, { full_name: 'Second' });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`/realm/${server.realm.uuid}/plans/`);
  });

  it('refuses to log in without consent to the terms of service', async () => {
    const client = new PageClient(service.baseUrl);
    const { confirmPage } = await confirmEmailThroughPages(client, uniqueEmail('tos'));
    const action = /<form method="post" action="([^"]+)"/.exec(confirmPage.text)![1];
    const refused = await client.post(action, { full_name: 'No Consent' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('You must accept the Terms of Service to proceed.');
    expect(client.cookie('fg_billing_session')).toBeUndefined();
    const accepted = await client.post(action, { full_name: 'Consent', tos_consent: 'on' });
    expect(accepted.status).toBe(303);
  });

  it('two links requested before either is used: either works, and only one billing user results', async () => {
    const client = new PageClient(service.baseUrl);
    const email = uniqueEmail('twice');
    const user = newUser(email);
    const url = await billingAccessUrl(service.baseUrl, server, user);
    await askForConfirmationMail(client, url, email);
    await askForConfirmationMail(client, url, email);
    const mails = await waitForEmails(email, CONFIRM_SUBJECT, 2);
    const [first, second] = mails.map((m) => linkIn(m, `${service.baseUrl}/remote-billing-login/do_confirm/`));
    expect(first).not.toBe(second);

    const confirm = await client.follow(await client.get(second));
    expect(confirm.h1).toBe('Confirm login');
    const action = /<form method="post" action="([^"]+)"/.exec(confirm.text)![1];
    expect((await client.post(action, { full_name: 'Twice', tos_consent: 'on' })).status).toBe(303);
    await service.temporal.workflow.getHandle(`billing-login/${server.realm.uuid}/${user.uuid}`).result();
    // The first link still works after that login ended: it starts a new run for the same billing user.
    expect((await client.follow(await client.get(first))).h1).toBe('Confirm login');
    // Each link stays single-use.
    const again = await client.get(second);
    expect(again.status).toBe(410);
    expect(again.h1).toBe('Confirmation link already used');

    const realm = await service.db.remoteRealm.findUniqueOrThrow({ where: { uuid: server.realm.uuid } });
    expect(await service.db.remoteRealmBillingUser.count({ where: { realmId: realm.id, userUuid: user.uuid } })).toBe(1);
  });

  it('a reload while a cut-off link click is still being confirmed shows the confirm-login step, not the email form', async () => {
    const client = new PageClient(service.baseUrl);
    const email = uniqueEmail('reload');
    const user = newUser(email);
    const url = await billingAccessUrl(service.baseUrl, server, user);
    await askForConfirmationMail(client, url, email);
    const prefix = `${service.baseUrl}/remote-billing-login/do_confirm/`;
    const key = linkIn(await waitForEmail(email, CONFIRM_SUBJECT), prefix).slice(prefix.length);

    // What the link click sends; nothing waits for the answer, as if the API process died here.
    const handle = service.temporal.workflow.getHandle<typeof billingLoginWorkflow>(`billing-login/${server.realm.uuid}/${user.uuid}`);
    await handle.startUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(key) }], waitForStage: WorkflowUpdateStage.ACCEPTED });

    const reloaded = await client.get(url);
    expect(reloaded.h1).toBe('Confirm login');
    expect((await client.get(prefix + key)).h1).toBe('Confirmation link already used');
  });

  it('a login confirmed while its email confirmation is still being recorded waits for it instead of being refused', async () => {
    const client = new PageClient(service.baseUrl);
    const email = uniqueEmail('early');
    const user = newUser(email);
    await askForConfirmationMail(client, await billingAccessUrl(service.baseUrl, server, user), email);
    const prefix = `${service.baseUrl}/remote-billing-login/do_confirm/`;
    const key = linkIn(await waitForEmail(email, CONFIRM_SUBJECT), prefix).slice(prefix.length);

    const handle = service.temporal.workflow.getHandle<typeof billingLoginWorkflow>(`billing-login/${server.realm.uuid}/${user.uuid}`);
    const confirming = await handle.startUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(key) }], waitForStage: WorkflowUpdateStage.ACCEPTED });
    const loggedIn = await handle.executeUpdate(confirmLoginUpdate, {
      args: [{ fullName: 'Early Bird', enableMajorReleaseEmails: false, enableMaintenanceReleaseEmails: false, acceptedTosVersion: '1.0' }],
    });
    expect((await confirming.result()).outcome).toBe('confirmed');
    expect(await handle.result()).toEqual({ outcome: 'logged_in', billingUserId: loggedIn.billingUserId });
  });

  it('answers expired and tampered access tokens like Zulip (400), and unknown confirmation links, with their own pages', async () => {
    const client = new PageClient(service.baseUrl);
    const identity = {
      kind: 'realm' as const,
      serverUuid: server.uuid,
      realmUuid: server.realm.uuid,
      userUuid: crypto.randomUUID(),
      email: uniqueEmail('expired'),
      fullName: 'X',
      uriScheme: 'https://',
      nextPage: null,
    };
    const expired = await client.get(`/remote-billing-login/${issueAccessToken(service.deps.signer, identity, 1, Date.now() - 60_000)}`);
    // Zulip's status and title, and what to do next.
    expect(expired.status).toBe(400);
    expect(expired.h1).toBe('Billing access token expired.');
    expect(expired.text).toContain('Open plan management again from your Zulip server');

    const valid = issueAccessToken(service.deps.signer, { ...identity, email: 'a@example.test' }, 60_000);
    const fields = JSON.parse(Buffer.from(valid, 'base64url').toString());
    const tampered = Buffer.from(JSON.stringify({ ...fields, email: 'attacker@example.test' })).toString('base64url');
    for (const token of [tampered, 'not-a-token', valid.slice(0, -4)]) {
      const res = await client.get(`/remote-billing-login/${token}`);
      expect(res.status).toBe(400);
      expect(res.h1).toBe('Invalid billing access token.');
    }
    const unknown = await client.get('/remote-billing-login/do_confirm/no-such-key');
    expect(unknown.status).toBe(404);
    expect(unknown.h1).toBe('Invalid confirmation link');
  });

  it('without a session the portal pages answer 401', async () => {
    const res = await new PageClient(service.baseUrl).get(`/realm/${server.realm.uuid}/plans/`);
    expect(res.status).toBe(401);
    expect(res.text).toContain('not logged in');
  });

  describe('remote server API', () => {
    it('refuses credentials with Zulip\'s codes, statuses and error shape', async () => {
      const status = (auth?: string) => zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics/status', {}, auth, 'GET');
      const unknownUuid = crypto.randomUUID();
      expect(await status(basicAuth(unknownUuid, 'k'.repeat(64)))).toEqual({
        status: 401,
        json: { result: 'error', msg: `Zulip server auth failure: ${unknownUuid} is not registered -- did you run \`manage.py register_server\`?`, code: 'INVALID_ZULIP_SERVER' },
      });
      expect(await status(basicAuth(server.uuid, 'k'.repeat(64)))).toEqual({
        status: 401,
        json: { result: 'error', msg: `Zulip server auth failure: key does not match role ${server.uuid}`, code: 'INVALID_ZULIP_SERVER' },
      });
      expect(await status(basicAuth('not-a-uuid', 'k'.repeat(64)))).toMatchObject({ status: 401, json: { code: 'INVALID_ZULIP_SERVER' } });
      expect(await status()).toEqual({ status: 401, json: { result: 'error', msg: 'Missing authorization header for basic auth', code: 'UNAUTHORIZED' } });
      expect(await status('Basic !!!')).toMatchObject({ status: 401, json: { code: 'UNAUTHORIZED' } });
      expect(await status('Bearer abc')).toMatchObject({ status: 400, json: { result: 'error', code: 'BAD_REQUEST' } });

      const reRegisterWrongKey = await zulipApi(service.baseUrl, '/api/v1/remotes/server/register', {
        zulip_org_id: server.uuid,
        zulip_org_key: 'x'.repeat(64),
        hostname: 'evil.example.test',
        contact_email: 'evil@example.test',
      });
      expect(reRegisterWrongKey).toMatchObject({ status: 400, json: { result: 'error', code: 'INVALID_ZULIP_SERVER' } });
      expect((await service.db.remoteZulipServer.findUniqueOrThrow({ where: { uuid: server.uuid } })).hostname).toBe('chat.example.test');

      const deactivated = await registerDemoServer(service.baseUrl);
      await service.db.remoteZulipServer.update({ where: { uuid: deactivated.uuid }, data: { deactivated: true } });
      const refused = await status(basicAuth(deactivated.uuid, deactivated.key));
      expect(refused).toMatchObject({ status: 401, json: { result: 'error', code: 'REMOTE_SERVER_DEACTIVATED' } });

      // A body the parser refuses is answered in the same shape.
      const res = await fetch(`${service.baseUrl}/api/v1/remotes/server/billing`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: basicAuth(server.uuid, server.key) }, body: '{"user":' });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ result: 'error', code: 'BAD_REQUEST' });
    });

    it('rotates the server key with new_org_key, as `manage.py register_server --rotate-key` does', async () => {
      const rotating = await registerDemoServer(service.baseUrl);
      const newKey = crypto.randomBytes(32).toString('hex');
      const fields = { zulip_org_id: rotating.uuid, zulip_org_key: rotating.key, hostname: 'new-host.example.test', contact_email: 'Admin@Example.test' };
      expect(await zulipApi(service.baseUrl, '/api/v1/remotes/server/register', { ...fields, new_org_key: newKey })).toEqual({ status: 200, json: { result: 'success', msg: '', created: false } });
      const status = (key: string) => zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics/status', {}, basicAuth(rotating.uuid, key), 'GET');
      expect((await status(rotating.key)).status).toBe(401);
      expect((await status(newKey)).status).toBe(200);
      expect(await service.db.remoteZulipServer.findUniqueOrThrow({ where: { uuid: rotating.uuid } })).toMatchObject({ hostname: 'new-host.example.test', contactEmail: 'admin@example.test' });
    });

    it('takes realms from the analytics upload and answers the highest uploaded row ids', async () => {
      const uploader = await registerDemoServer(service.baseUrl);
      const auth = basicAuth(uploader.uuid, uploader.key);
      const status = () => zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics/status', {}, auth, 'GET');
      expect(await status()).toEqual({ status: 200, json: { result: 'success', msg: '', last_realm_count_id: 0, last_installation_count_id: 0, last_realmauditlog_id: 0 } });

      const second = { uuid: crypto.randomUUID(), host: 'second.chat.example.test', name: 'Second Org' };
      const upload = {
        ...realmsUpload([{ ...uploader.realm, name: 'Renamed Org' }, second]),
        realm_counts: [{ property: 'active_users:is_bot:day', realm: 2, id: 41, end_time: 1700000000.0, subgroup: 'false', value: 3 }],
        installation_counts: [{ property: 'active_users:is_bot:day', id: 7, end_time: 1700000000.0, subgroup: null, value: 3 }],
        realmauditlog_rows: [{ id: 90, realm: 2, event_time: 1700000000.0, backfilled: false, extra_data: '{}', event_type: 101 }],
      };
      const answer = await zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics', upload, auth);
      expect(answer).toEqual({
        status: 200,
        json: { result: 'success', msg: '', realms: { [uploader.realm.uuid]: { can_push: false, expected_end_timestamp: null }, [second.uuid]: { can_push: false, expected_end_timestamp: null } } },
      });
      expect(await service.db.remoteRealm.findUniqueOrThrow({ where: { uuid: uploader.realm.uuid } })).toMatchObject({ name: 'Renamed Org' });
      expect((await status()).json).toMatchObject({ last_realm_count_id: 41, last_installation_count_id: 7, last_realmauditlog_id: 90 });
      // An older batch sent again does not move the marks back.
      await zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics', { ...upload, realm_counts: [{ ...upload.realm_counts[0], id: 3 }] }, auth);
      expect((await status()).json).toMatchObject({ last_realm_count_id: 41 });

      // Another server's realm cannot be taken over.
      const steal = await zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics', realmsUpload([server.realm]), auth);
      expect(steal).toEqual({ status: 400, json: { result: 'error', msg: 'Duplicate registration detected.', code: 'BAD_REQUEST' } });
      expect((await service.db.remoteRealm.findUniqueOrThrow({ where: { uuid: server.realm.uuid }, include: { server: true } })).server.uuid).toBe(server.uuid);
      const notJson = await zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics', { ...upload, realms: '[{' }, auth);
      expect(notJson).toMatchObject({ status: 400, json: { result: 'error', msg: 'realms: is not valid JSON.' } });
    });

    it('validates billing requests, answering Zulip\'s codes for unknown and foreign realms; JSON bodies work too', async () => {
      const auth = basicAuth(server.uuid, server.key);
      const user = newUser(uniqueEmail('api'));
      const fields = { user, realm: realmInfo(server.realm), uri_scheme: 'https://' };
      const ok = await zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { ...fields, next_page: 'sponsorship' }, auth);
      expect(ok).toMatchObject({ status: 200, json: { result: 'success', msg: '' } });
      expect(ok.json.billing_access_url).toMatch(new RegExp(`^${service.baseUrl}/remote-billing-login/[A-Za-z0-9_-]+$`));
      const viaJson = await api(service.baseUrl, '/api/v1/remotes/server/billing', { user, realm: { uuid: server.realm.uuid }, uri_scheme: 'https://', next_page: null }, auth);
      expect(viaJson).toMatchObject({ status: 200, json: { result: 'success' } });
      // Without uri_scheme, https:// as Zulip assumes.
      const noScheme = await zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { user, realm: realmInfo(server.realm) }, auth);
      const token = JSON.parse(Buffer.from(String(noScheme.json.billing_access_url).split('/').pop()!, 'base64url').toString());
      expect(token.uriScheme).toBe('https://');

      const badPage = await zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { ...fields, next_page: 'admin' }, auth);
      expect(badPage).toMatchObject({ status: 400, json: { result: 'error', code: 'BAD_REQUEST' } });
      expect(badPage.json.msg).toMatch(/^next_page/);
      const badUser = await zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { ...fields, user: '{"uuid":' }, auth);
      expect(badUser).toMatchObject({ status: 400, json: { msg: 'user: is not valid JSON.' } });

      const missing = await zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { ...fields, realm: realmInfo({ ...server.realm, uuid: crypto.randomUUID() }) }, auth);
      expect(missing).toEqual({ status: 403, json: { result: 'error', msg: 'Organization not registered', code: 'MISSING_REMOTE_REALM' } });

      const other = await registerDemoServer(service.baseUrl);
      const mismatch = await zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { ...fields, realm: realmInfo(other.realm) }, auth);
      expect(mismatch).toMatchObject({ status: 403, json: { result: 'error', code: 'REMOTE_REALM_SERVER_MISMATCH_ERROR' } });
    });
  });
});
