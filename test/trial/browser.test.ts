import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser';
import { startService, TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { hashPassword } from '../../src/shared/auth';
import { expectAccessible, expectPage, follow, pressAndWait, tabTo, typeInto } from '../support/accessibility';

// Short enough that the test sees the trial expire for real; the reminder lead time is longer, so no reminder.
const TRIAL_LENGTH_MS = 8000;
const PASSWORD = 'Browser-pass-1';

let svc: TestService;
let browser: Browser;
beforeAll(async () => {
  [svc, browser] = await Promise.all([startService({ TRIAL_LENGTH: `${TRIAL_LENGTH_MS}ms` }), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await svc?.stop();
});

async function infos(email: string) {
  return (await fetch(`${svc.baseUrl}/api/trial/infos?username=${encodeURIComponent(email)}`)).json() as Promise<Record<string, unknown>>;
}

/** Registers Ada of `company` for a trial; the link of the verification mail. */
async function verificationLink(email: string, company: string): Promise<string> {
  const registered = await fetch(`${svc.baseUrl}/api/trial/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: email, firstname: 'Ada', company }),
  });
  expect(registered.status).toBe(202);
  return linkIn(await waitForEmail(email, /Verify your email/), `${svc.baseUrl}/trial/register?token=`);
}

describe('free trial in a browser', () => {
  it('goes from the mailed link to "your trial is ready", logs in, and is refused at login once expired', async () => {
    const email = uniqueEmail('browser');
    const link = await verificationLink(email, 'Analytical');

    const page = await browser.newPage();
    await page.goto(link);
    expect(await page.textContent('h1')).toBe('Start your free trial');
    expect(await page.inputValue('#username')).toBe(email);
    expect(await page.getAttribute('#username', 'readonly')).not.toBeNull();
    expect(await page.inputValue('#firstname')).toBe('Ada');

    // A mistyped confirmation keeps the person on the form with the reason.
    await page.fill('#password', PASSWORD);
    await page.fill('#confirmation', 'Something-else-1');
    await page.click('button[type=submit]');
    expect(await page.textContent('.error')).toContain('differ');

    await page.fill('#password', PASSWORD);
    await page.fill('#confirmation', PASSWORD);
    await page.fill('#lastname', 'Lovelace');
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Your trial is ready');
    expect(await page.textContent('#app-name')).toBe('Analytical trial app');

    // Creating the account signed the person in: the next click opens the app.
    await page.click('text=Open my app');
    expect(await page.textContent('h1')).toBe('Analytical trial app');
    expect(await page.textContent('main')).toContain(email);

    // Signed out, the password logs in again.
    await page.click('text=Sign out');
    expect(await page.textContent('h1')).toBe('Log in');
    await page.fill('#username', email);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Analytical trial app');

    // The link is single-use.
    await page.goto(link);
    expect(await page.textContent('h1')).toBe('This link was already used');
    await expectAccessible(page);
    await page.goto(`${svc.baseUrl}/trial/register?token=nonsense`);
    expect(await page.textContent('h1')).toBe('This link is not valid');
    await expectAccessible(page);

    // Wait (polling) for the real trial end, then the login is refused with its own page.
    const deadline = Date.now() + TRIAL_LENGTH_MS + 20_000;
    // Waits for the workflow to record the end (access revoked), not only for the end date to pass.
    while ((await svc.db.trial.findUniqueOrThrow({ where: { email } })).status !== 'expired') {
      if (Date.now() > deadline) throw new Error('the trial did not expire');
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.goto(`${svc.baseUrl}/login`);
    await page.fill('#username', email);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Your free trial has ended');
    await expectAccessible(page);
    expect(await infos(email)).toMatchObject({ status: 'expired', expired: true, daysLeft: 0 });
    // Nor can the app be embedded any more.
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${svc.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const { accessToken } = (await (await post('/api/trial/login', { username: email, password: PASSWORD })).json()) as { accessToken: string };
    const account = await svc.db.account.findUniqueOrThrow({ where: { email } });
    const app = await svc.db.app.findUniqueOrThrow({ where: { ownerAccountId: account.id } });
    expect(app.ownerPermission).toBe('none');
    const embed = await post('/api/trial/embed-token', { username: email, appId: app.id }, { authorization: `Bearer ${accessToken}` });
    expect(embed.status).toBe(403);
    expect(await embed.json()).toMatchObject({ code: 'trial_expired' });
    // The session from before the end no longer opens the app either.
    await page.goto(`${svc.baseUrl}/trial/app`);
    expect(await page.textContent('h1')).toBe('Your free trial has ended');
    await page.close();
  });

  it('keeps a wrong password on the login page', async () => {
    const page = await browser.newPage();
    await page.goto(`${svc.baseUrl}/login`);
    await page.fill('#username', uniqueEmail('nobody'));
    await page.fill('#password', 'Wrong-pass-1');
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Log in');
    expect(await page.textContent('.error')).toContain('Wrong username or password');
    await page.close();
  });
});

describe('"welcome back" for a known address, in a browser', () => {
  it('follows the reset link of the mail, sets a new password once, and logs in with it, with the keyboard alone', async () => {
    const email = uniqueEmail('returning');
    await svc.db.account.create({ data: { email, username: email, passwordHash: await hashPassword('Old-pass-123') } });
    const registered = await fetch(`${svc.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
    expect(registered.status).toBe(202);
    const welcome = await waitForEmail(email, /Welcome back/);

    const page = await browser.newPage();
    try {
      await page.goto(linkIn(welcome, `${svc.baseUrl}/trial/password-reset`));
      await expectPage(page, 'Reset your password');
      await typeInto(page, '#username', email);
      await pressAndWait(page, 'Enter');
      await expectPage(page, 'Check your inbox');

      const resetLink = linkIn(await waitForEmail(email, 'Choose a new password'), `${svc.baseUrl}/trial/password-reset/new?token=`);
      await page.goto(resetLink);
      await expectPage(page, 'Choose a new password');
      expect(await page.inputValue('#username')).toBe(email);
      await typeInto(page, '#password', 'New-pass-456');
      await typeInto(page, '#confirmation', 'New-pass-456');
      await tabTo(page, 'button[type=submit]');
      await pressAndWait(page, 'Space');
      await expectPage(page, 'Password changed');

      await page.goto(resetLink);
      await expectPage(page, 'This link was already used');

      await page.goto(`${svc.baseUrl}/login`);
      await typeInto(page, '#username', email);
      await typeInto(page, '#password', 'New-pass-456');
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('h1')).toBe('Your account');
    } finally {
      await page.close();
    }
  });
});

describe('free trial with the keyboard alone', () => {
  it('signs up from the mailed link, opens the app, signs out and in: Tab, Shift+Tab, typing, Enter and Space, every page accessible', async () => {
    const email = uniqueEmail('keyboard');
    const link = await verificationLink(email, 'Keyboard');

    const page = await browser.newPage();
    try {
      await page.goto(link);
      await expectPage(page, 'Start your free trial');
      await typeInto(page, '#password', PASSWORD);
      await typeInto(page, '#confirmation', 'Something-else-1');
      await tabTo(page, 'button[type=submit]');
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('.error')).toContain('differ');
      await expectAccessible(page);

      await typeInto(page, '#password', PASSWORD);
      await typeInto(page, '#confirmation', PASSWORD);
      await pressAndWait(page, 'Enter');
      await expectPage(page, 'Your trial is ready');

      await follow(page, 'a.button', 'Enter', 'Keyboard trial app');
      await follow(page, 'button.secondary', 'Space', 'Log in');

      await typeInto(page, '#username', 'somebody-else@example.test');
      await typeInto(page, '#password', PASSWORD);
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('.error')).toContain('Wrong username or password');
      await expectAccessible(page);
      await typeInto(page, '#password', PASSWORD);
      await typeInto(page, '#username', email, { backwards: true });
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('h1')).toBe('Keyboard trial app');
    } finally {
      await page.close();
    }
  });
});
