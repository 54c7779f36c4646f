import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser';
import type { TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { billingAccessUrl, DemoServer, newUser, registerDemoServer, randomIp, startBillingService } from './helpers';
import { expectAccessible, expectPage, follow, pressAndWait, tabTo, typeInto } from '../support/accessibility';

describe('billing login in a browser', () => {
  let service: TestService;
  let server: DemoServer;
  let browser: Browser;

  beforeAll(async () => {
    [service, browser] = await Promise.all([startBillingService(), launchBrowser()]);
    server = await registerDemoServer(service.baseUrl);
  });
  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  it('goes from the access URL through the emailed link to the plans page', async () => {
    const email = uniqueEmail('browser');
    const url = await billingAccessUrl(service.baseUrl, server, newUser(email));
    const page = await browser.newPage({ extraHTTPHeaders: { 'X-Forwarded-For': randomIp() } });

    await page.goto(url);
    expect(await page.textContent('h1')).toBe('Log in to plan management');
    expect(await page.inputValue('#email')).toBe(email);
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Check your email');

    const link = linkIn(await waitForEmail(email, 'Confirm email for plan management'), `${service.baseUrl}/remote-billing-login/do_confirm/`);
    await page.goto(link);
    expect(await page.textContent('h1')).toBe('Confirm login');
    await page.fill('#full_name', 'Browser Billing Admin');

    // Without consent the form comes back with the reason.
    await page.click('button[type=submit]');
    expect(await page.textContent('.error')).toBe('You must accept the Terms of Service to proceed.');
    await page.check('#tos_consent');
    await page.click('button[type=submit]');

    expect(new URL(page.url()).pathname).toBe(`/realm/${server.realm.uuid}/plans/`);
    expect(await page.textContent('h1')).toBe('Plans and pricing');
    expect(await page.textContent('#billing-user')).toContain('Browser Billing Admin');
    expect(await page.textContent('#organization')).toBe(server.realm.name);

    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'fg_billing_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
  });

  it("takes a Zulip server's own requests (Python requests: form fields, JSON strings, Basic auth, realm upload after MISSING_REMOTE_REALM) to a working access URL", async () => {
    const python = path.resolve(__dirname, '../../.tools/venv/bin/python');
    const zulip = { orgId: crypto.randomUUID(), orgKey: crypto.randomBytes(32).toString('hex'), realmUuid: crypto.randomUUID(), host: `zulip-${crypto.randomBytes(3).toString('hex')}.example.test` };
    const email = uniqueEmail('zulip-owner');
    const { stdout } = await promisify(execFile)(python, [path.join(__dirname, 'zulip_server.py'), service.baseUrl, zulip.orgId, zulip.orgKey, zulip.realmUuid, zulip.host, crypto.randomUUID(), email, 'Desdemona Owner']);
    const { calls, billing_access_url } = JSON.parse(stdout) as { calls: { endpoint: string; status: number; result: string; code: string | null }[]; billing_access_url: string };
    expect(calls).toEqual([
      { endpoint: 'server/register', status: 200, result: 'success', code: null },
      { endpoint: 'server/billing', status: 403, result: 'error', code: 'MISSING_REMOTE_REALM' },
      { endpoint: 'server/analytics/status', status: 200, result: 'success', code: null },
      { endpoint: 'server/analytics', status: 200, result: 'success', code: null },
      { endpoint: 'server/billing', status: 200, result: 'success', code: null },
    ]);
    const realm = await service.db.remoteRealm.findUniqueOrThrow({ where: { uuid: zulip.realmUuid }, include: { server: true } });
    expect(realm).toMatchObject({ host: zulip.host, name: 'Zulip Dev', server: { uuid: zulip.orgId, lastRealmAuditLogId: 7n } });

    // The server redirects its admin's browser to the URL.
    const page = await browser.newPage({ extraHTTPHeaders: { 'X-Forwarded-For': randomIp() } });
    await page.goto(billing_access_url);
    expect(await page.textContent('h1')).toBe('Log in to plan management');
    expect(await page.textContent('main')).toContain(`Zulip Dev`);
    expect(await page.inputValue('#email')).toBe(email);
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Check your email');
    await page.goto(linkIn(await waitForEmail(email, 'Confirm email for plan management'), `${service.baseUrl}/remote-billing-login/do_confirm/`));
    expect(await page.textContent('h1')).toBe('Confirm login');
    expect(await page.inputValue('#full_name')).toBe('Desdemona Owner');
    await page.check('#tos_consent');
    await page.click('button[type=submit]');
    expect(new URL(page.url()).pathname).toBe(`/realm/${zulip.realmUuid}/plans/`);
    expect(await page.textContent('#organization')).toBe('Zulip Dev');
    await page.close();
  });

  it('logs in with the keyboard alone: Tab, typing, Enter and Space, every page accessible', async () => {
    const email = uniqueEmail('keyboard');
    const url = await billingAccessUrl(service.baseUrl, server, newUser(email), 'upgrade');
    const page = await browser.newPage({ extraHTTPHeaders: { 'X-Forwarded-For': randomIp() } });
    try {
      await page.goto(url);
      await expectPage(page, 'Log in to plan management');
      await follow(page, 'button[type=submit]', 'Enter', 'Check your email');

      await page.goto(linkIn(await waitForEmail(email, 'Confirm email for plan management'), `${service.baseUrl}/remote-billing-login/do_confirm/`));
      await expectPage(page, 'Confirm login');
      await typeInto(page, '#full_name', 'Keyboard Billing Admin');
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('.error')).toBe('You must accept the Terms of Service to proceed.');
      await expectAccessible(page);
      await tabTo(page, '#tos_consent');
      await page.keyboard.press('Space');
      await tabTo(page, 'button[type=submit]');
      await pressAndWait(page, 'Enter');

      expect(new URL(page.url()).pathname).toBe(`/realm/${server.realm.uuid}/upgrade/`);
      expect(await page.textContent('#billing-user')).toContain('Keyboard Billing Admin');
      await expectAccessible(page);
      await tabTo(page, 'a[href$="/plans/"]');
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('h1')).toBe('Plans and pricing');
    } finally {
      await page.close();
    }
  });

  it('shows the legacy server login accessibly, its refusal included', async () => {
    const page = await browser.newPage({ extraHTTPHeaders: { 'X-Forwarded-For': randomIp() } });
    try {
      await page.goto(`${service.baseUrl}/serverlogin/`);
      await expectPage(page, 'Log in to plan management for your server');
      await typeInto(page, '#zulip_org_id', server.uuid);
      await typeInto(page, '#zulip_org_key', 'not-the-key');
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('.error')).toBe('The key for this server is not correct.');
      await expectAccessible(page);
    } finally {
      await page.close();
    }
  });
});
