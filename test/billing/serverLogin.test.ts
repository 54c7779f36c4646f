import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';
import { DemoServer, PageClient, registerDemoServer, startBillingService } from './helpers';

describe('legacy server-level billing login', () => {
  let service: TestService;
  let server: DemoServer;

  beforeAll(async () => {
    service = await startBillingService();
    server = await registerDemoServer(service.baseUrl);
  });
  afterAll(() => service.stop());

  /** /serverlogin/ with the server's UUID and key → the email form. */
  async function serverCredentials(client: PageClient, key = server.key, uuid = server.uuid) {
    const form = await client.get('/serverlogin/?next_page=billing');
    expect(form.status).toBe(200);
    expect(form.text).toContain('name="next_page" value="billing"');
    return client.post('/serverlogin/', { zulip_org_id: uuid, zulip_org_key: key, next_page: 'billing' });
  }

  it('logs in with the server key and a confirmed email, then shows the server billing page', async () => {
    const client = new PageClient(service.baseUrl);
    const emailForm = await serverCredentials(client);
    expect(emailForm.h1).toBe('Log in to plan management');
    const serverLogin = /name="server_login" value="([^"]+)"/.exec(emailForm.text)![1];

    const email = uniqueEmail('legacy');
    const sent = await client.post(`/serverlogin/${server.uuid}/confirm/`, { email, server_login: serverLogin });
    expect(sent.h1).toBe('Check your email');
    const mail = await waitForEmail(email, 'Confirm email for plan management');
    expect(mail.text).toContain('as often as you need');
    const link = linkIn(mail, `${service.baseUrl}/serverlogin/do_confirm/`);
    // As in Zulip, the emailed link's page is the confirm-login form, posting back to the link itself.
    const confirmPage = await client.get(link);
    expect(confirmPage.status).toBe(200);
    expect(confirmPage.h1).toBe('Confirm login');
    expect(confirmPage.text).toContain(`value="${email}"`);
    const action = /<form method="post" action="([^"]+)"/.exec(confirmPage.text)![1];
    expect(service.baseUrl + action).toBe(link);

    const refused = await client.post(action, { full_name: 'Legacy Admin' });
    expect(refused.text).toContain('You must accept the Terms of Service to proceed.');
    const loggedIn = await client.post(action, { full_name: 'Legacy Admin', tos_consent: 'on' });
    expect(loggedIn.status).toBe(303);
    expect(loggedIn.location).toBe(`/server/${server.uuid}/billing/`);
    const page = await client.get(loggedIn.location!);
    expect(page.h1).toBe('Billing');
    expect(page.text).toContain('Legacy Admin');
    expect(page.text).toContain('chat.example.test');

    const dbServer = await service.db.remoteZulipServer.findUniqueOrThrow({ where: { uuid: server.uuid } });
    const user = await service.db.remoteServerBillingUser.findUniqueOrThrow({ where: { serverId_email: { serverId: dbServer.id, email } } });
    expect(user).toMatchObject({ fullName: 'Legacy Admin', tosVersion: '1.0' });
    expect(user.lastLogin).not.toBeNull();
    const handle = service.temporal.workflow.getHandle(`billing-server-login/${server.uuid}/${email}`);
    expect(await handle.result()).toEqual({ outcome: 'logged_in', billingUserId: user.id });

    // A realm session does not open the server pages and vice versa.
    expect((await client.get(`/realm/${server.realm.uuid}/billing/`)).status).toBe(401);

    // The link is reusable for its 24 hours, also in another browser, without a new mail: a new login, a new session.
    const elsewhere = new PageClient(service.baseUrl);
    const again = await elsewhere.get(link);
    expect(again.h1).toBe('Confirm login');
    expect(again.text).not.toContain('tos_consent');
    expect(again.text).toContain('value="Legacy Admin"');
    const secondLogin = await elsewhere.submit(again, { full_name: 'Legacy Admin' });
    expect(secondLogin.location).toBe(`/server/${server.uuid}/billing/`);
    expect((await elsewhere.get(secondLogin.location!)).h1).toBe('Billing');
    expect(await waitForEmails(email, 'Confirm email for plan management')).toHaveLength(1);
  });

  it('an expired legacy link says so; a server with a plan lands on its billing page', async () => {
    const other = await registerDemoServer(service.baseUrl);
    await service.db.remoteZulipServer.update({ where: { uuid: other.uuid }, data: { plan: 'Business' } });
    const client = new PageClient(service.baseUrl);
    const emailForm = await client.submit(await client.get('/serverlogin/'), { zulip_org_id: other.uuid, zulip_org_key: other.key });
    const email = uniqueEmail('legacy-expiry');
    await client.submit(emailForm, { email });
    const link = linkIn(await waitForEmail(email, 'Confirm email for plan management'), `${service.baseUrl}/serverlogin/do_confirm/`);
    const loggedIn = await client.submit(await client.get(link), { full_name: 'Plan Holder', tos_consent: 'on' });
    expect(loggedIn.location).toBe(`/server/${other.uuid}/billing/`);
    expect((await client.get(loggedIn.location!)).text).toContain('Business');
    // The link's 24 hours are over.
    await service.db.billingConfirmation.updateMany({ where: { email }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await client.get(link);
    expect(expired.status).toBe(410);
    expect(expired.h1).toBe('Confirmation link expired');
  });

  it('refuses a wrong key, an unknown server and a deactivated server with readable pages', async () => {
    const client = new PageClient(service.baseUrl);
    const wrong = await serverCredentials(client, 'k'.repeat(64));
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('The key for this server is not correct.');
    const unknown = await serverCredentials(client, server.key, crypto.randomUUID());
    expect(unknown.status).toBe(401);
    expect(unknown.text).toContain('is not registered');

    const deactivated = await registerDemoServer(service.baseUrl);
    await service.db.remoteZulipServer.update({ where: { uuid: deactivated.uuid }, data: { deactivated: true } });
    const refused = await serverCredentials(client, deactivated.key, deactivated.uuid);
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('Your server registration has been deactivated.');
  });

  it('refuses an email form whose server proof is forged or for another server', async () => {
    const client = new PageClient(service.baseUrl);
    const emailForm = await serverCredentials(client);
    const serverLogin = /name="server_login" value="([^"]+)"/.exec(emailForm.text)![1];
    const other = await registerDemoServer(service.baseUrl);
    const res = await client.post(`/serverlogin/${other.uuid}/confirm/`, { email: uniqueEmail('forged'), server_login: serverLogin });
    expect(res.status).toBe(403);
    expect(res.text).toContain('Log in with your server UUID and key again.');
    const bad = await client.post('/serverlogin/', { zulip_org_id: 'not-a-uuid', zulip_org_key: 'x' });
    expect(bad.status).toBe(400);
  });

  it('npm run billing:link plays a self-hosted server and prints a working access URL', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'billing-link-'));
    const run = () =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/billing-link.ts', '--email', 'demo@example.test', '--url', service.baseUrl, '--next-page', 'upgrade'], {
        cwd: path.resolve(__dirname, '../..'),
        env: { ...process.env, DATA_DIR: dataDir },
      });
    const { stdout } = await run();
    const url = /(http:\/\/\S+\/remote-billing-login\/\S+)/.exec(stdout)![1];
    const page = await new PageClient(service.baseUrl).get(url);
    expect(page.h1).toBe('Log in to plan management');
    expect(page.text).toContain('value="demo@example.test"');
    // A second run reuses the registered demo server; a realm the portal does not know is uploaded after MISSING_REMOTE_REALM.
    const demo = JSON.parse(fs.readFileSync(path.join(dataDir, 'billing-demo-server.json'), 'utf8'));
    await service.db.remoteRealm.delete({ where: { uuid: demo.realm.uuid } });
    const again = await run();
    expect(again.stdout).toContain(demo.uuid);
    expect(await service.db.remoteRealm.findUnique({ where: { uuid: demo.realm.uuid } })).toMatchObject({ host: 'demo.localhost' });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
