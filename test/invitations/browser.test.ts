import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser';
import { startService, TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { Api, apiClient, PASSWORD, signUp } from './helpers';
import { expectAccessible, expectPage, follow, pressAndWait, tabTo, typeInto } from '../support/accessibility';

let service: TestService;
let api: Api;
let browser: Browser;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  [service, browser] = await Promise.all([startService(), launchBrowser()]);
  api = apiClient(service.baseUrl);
  admin = await signUp(api, service.baseUrl, 'browser-admin');
});
afterAll(async () => {
  await browser?.close();
  await service?.stop();
});

async function inviteToNewTeam(teamName: string, inviteeEmail: string): Promise<string> {
  const team = await api('POST', '/repo/v1/team', { name: teamName }, admin.accessToken);
  const invited = await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail, message: 'Come and help us' }, admin.accessToken);
  expect(invited.status).toBe(201);
  return linkIn(await waitForEmail(inviteeEmail, `You are invited to join ${teamName}`), `${service.baseUrl}/join/invitation/`);
}

/** Submits the page's form and waits for the page it leads to. */
async function submit(page: Page, label: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.click(`button:has-text("${label}")`)]);
}

async function heading(page: Page): Promise<string | null> {
  return page.textContent('h1');
}

describe('invitation pages in Chromium', () => {
  it('new account: from the invitation mail to the team page, joined with one click', async () => {
    const email = uniqueEmail('browser-new');
    const link = await inviteToNewTeam('Browser Crew', email);
    const page = await browser.newPage();
    try {
      await page.goto(link);
      expect(await heading(page)).toBe('Join Browser Crew');
      expect(await page.textContent('#inviter')).toBe('browser-admin Tester');
      expect(await page.textContent('#message')).toBe('Come and help us');

      await Promise.all([page.waitForNavigation(), page.click('#create-account')]);
      expect(await page.inputValue('#email')).toBe(email);
      await page.fill('#firstName', 'Ada');
      await page.fill('#lastName', 'Lovelace');
      await submit(page, 'Send registration info');
      expect(await heading(page)).toBe('Check your email');

      const welcome = await waitForEmail(email, 'Welcome to flowgate');
      expect(welcome.text).not.toContain('Ada');
      await page.goto(linkIn(welcome, `${service.baseUrl}/join/account/`));
      expect(await heading(page)).toBe('Create your account');
      // The names typed on "Send registration info" come back, from the flow (the mail carries none of them).
      expect(await page.inputValue('#firstName')).toBe('Ada');
      expect(await page.inputValue('#lastName')).toBe('Lovelace');
      await page.fill('#username', `ada-${Date.now()}`);
      await page.fill('#password', 'short');
      await page.check('#acceptTerms');
      await submit(page, 'Create account');
      expect(await page.textContent('.error')).toContain('at least 8 characters');
      await expectAccessible(page);

      await page.fill('#password', PASSWORD);
      await submit(page, 'Create account');
      expect(await page.textContent('.error')).toContain('Accept the terms of use');
      await page.fill('#password', PASSWORD);
      await page.check('#acceptTerms');
      await submit(page, 'Create account');
      expect(await heading(page)).toBe('Browser Crew');
      expect(await page.textContent('#membership')).toContain('open invitation');

      await submit(page, 'Join');
      expect(await page.textContent('#membership')).toContain('You are a member of this team.');
      expect(await page.textContent('#members')).toContain('ada-');

      // The used link now says so.
      await page.goto(link);
      expect(await heading(page)).toBe('This link was already used');
      await expectAccessible(page);
      expect(await page.textContent('main')).toContain('This invitation has already been used');
    } finally {
      await page.close();
    }
  });

  it('existing account: sign in from the invitation page, bind, join', async () => {
    const member = await signUp(api, service.baseUrl, 'browser-member');
    const link = await inviteToNewTeam('Browser Guild', member.email);
    const page = await browser.newPage();
    try {
      await page.goto(link);
      await Promise.all([page.waitForNavigation(), page.click('#existing-account')]);
      expect(await heading(page)).toBe('Sign in');
      await page.fill('#username', member.username);
      await page.fill('#password', 'wrong-password-1!');
      await submit(page, 'Sign in');
      expect(await page.textContent('.error')).toBe('Wrong username or password.');
      await expectAccessible(page);
      await page.fill('#username', member.username);
      await page.fill('#password', PASSWORD);
      await submit(page, 'Sign in');
      expect(await heading(page)).toBe('Browser Guild');
      await submit(page, 'Join');
      expect(await page.textContent('#membership')).toContain('You are a member of this team.');
    } finally {
      await page.close();
    }
  });

  it('shows a clear page for a tampered or withdrawn link, never a stack trace', async () => {
    const email = uniqueEmail('browser-withdrawn');
    const link = await inviteToNewTeam('Browser Withdrawn', email);
    const page = await browser.newPage();
    try {
      const tampered = await page.goto(link.slice(0, -3) + 'abc');
      expect(tampered?.status()).toBe(404);
      expect(await heading(page)).toBe('This link is not valid');
      await expectAccessible(page);
      const garbage = await page.goto(`${service.baseUrl}/join/account/not-a-token`);
      expect(garbage?.status()).toBe(404);
      expect(await heading(page)).toBe('This link is not valid');

      const token = JSON.parse(Buffer.from(new URL(link).pathname.split('/').pop()!, 'base64url').toString());
      expect((await api('DELETE', `/repo/v1/membershipInvitation/${token.membershipInvitationId}`, undefined, admin.accessToken)).status).toBe(204);
      const withdrawn = await page.goto(link);
      expect(withdrawn?.status()).toBe(410);
      // Withdrawn reads like any link that can no longer be used, and says why.
      expect(await heading(page)).toBe('This link has expired');
      expect(await page.textContent('main')).toContain('This invitation was withdrawn by the team.');
      await expectAccessible(page);
      expect(await page.content()).not.toMatch(/at .*\.ts:\d+/);
    } finally {
      await page.close();
    }
  });
});

/** A new team's invitation to `email`, its mailed link opened in a new page. */
async function openedInvitation(teamName: string, email: string): Promise<Page> {
  const link = await inviteToNewTeam(teamName, email);
  const page = await browser.newPage();
  await page.goto(link);
  return page;
}

describe('invitation pages with the keyboard alone', () => {
  it('new account: from the invitation mail to joining the team with Tab, typing, Enter and Space, every page accessible', async () => {
    const email = uniqueEmail('keyboard-new');
    const page = await openedInvitation('Keyboard Crew', email);
    try {
      await expectPage(page, 'Join Keyboard Crew');
      await follow(page, '#create-account', 'Enter', 'Create an account');
      await typeInto(page, '#firstName', 'Grace');
      await typeInto(page, '#lastName', 'Hopper');
      await pressAndWait(page, 'Enter');
      await expectPage(page, 'Check your email');

      await page.goto(linkIn(await waitForEmail(email, 'Welcome to flowgate'), `${service.baseUrl}/join/account/`));
      await expectPage(page, 'Create your account');
      await typeInto(page, '#firstName', 'Grace');
      await typeInto(page, '#lastName', 'Hopper');
      await typeInto(page, '#username', `grace-${Date.now()}`);
      await typeInto(page, '#password', PASSWORD);
      await tabTo(page, '#acceptTerms');
      await page.keyboard.press('Space');
      expect(await page.isChecked('#acceptTerms')).toBe(true);
      await tabTo(page, 'button[type=submit]');
      await pressAndWait(page, 'Enter');
      expect(await heading(page)).toBe('Keyboard Crew');
      expect(await page.textContent('#membership')).toContain('open invitation');
      await expectAccessible(page);

      await tabTo(page, 'button:not(.secondary)');
      await pressAndWait(page, 'Enter');
      expect(await page.textContent('#membership')).toContain('You are a member of this team.');
      await expectAccessible(page);
    } finally {
      await page.close();
    }
  });

  it('existing account: sign in from the invitation page and join with the keyboard alone, every page accessible', async () => {
    const member = await signUp(api, service.baseUrl, 'keyboard-member');
    const page = await openedInvitation('Keyboard Guild', member.email);
    try {
      await follow(page, '#existing-account', 'Enter', 'Sign in');
      await typeInto(page, '#username', member.username);
      await typeInto(page, '#password', PASSWORD);
      await pressAndWait(page, 'Enter');
      expect(await heading(page)).toBe('Keyboard Guild');
      await tabTo(page, 'button:not(.secondary)');
      await pressAndWait(page, 'Space');
      expect(await page.textContent('#membership')).toContain('You are a member of this team.');

      await page.goto(`${service.baseUrl}/join/teams`);
      await expectPage(page, 'Your teams');
      await tabTo(page, 'a[href^="/join/team/"]');
      await pressAndWait(page, 'Enter');
      expect(await heading(page)).toBe('Keyboard Guild');
    } finally {
      await page.close();
    }
  });

  it('signed in with another address: the invited address gets a confirmation link that binds the account, with the keyboard alone', async () => {
    const other = await signUp(api, service.baseUrl, 'keyboard-other');
    const invited = uniqueEmail('keyboard-owner');
    const page = await openedInvitation('Keyboard Band', invited);
    try {
      await follow(page, '#existing-account', 'Enter', 'Sign in');
      await typeInto(page, '#username', other.email);
      await typeInto(page, '#password', PASSWORD);
      await pressAndWait(page, 'Enter');
      await expectPage(page, 'Confirm it is you');
      expect(await page.textContent('#verification-mailed')).toContain(invited);

      await page.goto(linkIn(await waitForEmail(invited, 'Confirm your invitation to Keyboard Band'), `${service.baseUrl}/join/verify/`));
      await expectPage(page, 'Confirm the invitation');
      await tabTo(page, 'button:not(.secondary)');
      await pressAndWait(page, 'Enter');
      expect(await heading(page)).toBe('Keyboard Band');
      await tabTo(page, 'button:not(.secondary)');
      await pressAndWait(page, 'Space');
      expect(await page.textContent('#membership')).toContain('You are a member of this team.');
      await expectAccessible(page);
    } finally {
      await page.close();
    }
  });
});
