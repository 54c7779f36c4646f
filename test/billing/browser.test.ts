import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser';
import type { TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { billingAccessUrl, DemoServer, newUser, registerDemoServer, randomIp, startBillingService } from './helpers';

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
});
