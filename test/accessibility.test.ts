// Every view the flows render, in each of its states (with a refusal, signed
// in or not, ...), and every error and dead-link page, served through the one
// layout and audited in Chromium: no WCAG 2.1 A/AA violation (axe-core), and
// a visible focus on every control Tab reaches. A view exported without an
// entry here fails the test. The browser tests of the flows audit the same
// pages as the flows reach them, and complete each flow with the keyboard.
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import type { Browser, Page as BrowserPage } from 'playwright-core';
import { asPages, errorHandler, HttpError } from '../src/api/http';
import { html, Page, render, renderError } from '../src/api/pages';
import { DeadLink } from '../src/shared/links';
import * as trial from '../src/api/trial/views';
import * as invitation from '../src/api/invitation/views';
import * as billing from '../src/api/billing/views';
import { launchBrowser } from './support/browser';
import { accessibilityViolations, expectAccessible } from './support/accessibility';

const csrf = html`<input type="hidden" name="_csrf" value="Zm9yLXRoZS1jYXRhbG9ndWU">`;
const TOKEN = 'eyJtZW1iZXJzaGlwSW52aXRhdGlvbklkIjoiMTIifQ';
const user = { id: 1, email: 'iago@example.com', fullName: 'Iago', tosVersion: null, enableMajorReleaseEmails: true, enableMaintenanceReleaseEmails: false, lastLogin: null };
const organization = { label: 'Organization', name: 'Example Org', host: 'chat.example.com', plan: null };
const realmIdentity = { kind: 'realm', serverUuid: 's', realmUuid: 'r', userUuid: 'u', email: user.email, fullName: user.fullName, uriScheme: 'https://', nextPage: null } as const;
const infos = { username: 'ada@example.com', status: 'active', trialEndsAt: '2026-05-18T09:00:00.000Z', daysLeft: 3, expired: false } as const;
const opened = (inviteeId: number | null) => ({
  row: { inviteeEmail: 'grace@example.com', message: 'Come and help us', expiresOn: null, inviteeId, teamId: 5 },
  teamName: 'Crew',
  inviterName: 'Ada Lovelace',
});
const team = { id: 5, name: 'Crew' };
const members = [{ member: { isAdmin: true }, account: { username: 'ada' } }, { member: { isAdmin: false }, account: { username: 'grace' } }];

/** Each view, by module and name, in the states a person can meet it in. */
const VIEWS: Record<string, Page[]> = {
  'trial.registrationPage': [
    trial.registrationPage(csrf, { token: TOKEN, username: 'ada@example.com', firstName: 'Ada', lastName: '' }),
    trial.registrationPage(csrf, { token: TOKEN, username: 'ada@example.com', firstName: 'Ada', lastName: '', error: 'The two passwords differ.' }, 400),
  ],
  'trial.trialReadyPage': [
    trial.trialReadyPage({ username: 'ada@example.com', appName: 'Analytical trial app', trialEndsAt: infos.trialEndsAt, signedIn: true }),
    trial.trialReadyPage({ username: 'ada@example.com', appName: 'Analytical trial app', trialEndsAt: infos.trialEndsAt, signedIn: false }),
  ],
  'trial.loginPage': [trial.loginPage(csrf), trial.loginPage(csrf, { username: 'ada@example.com', error: 'Wrong username or password.' }, 401)],
  'trial.trialExpiredPage': [trial.trialExpiredPage({ trialEndsAt: infos.trialEndsAt })],
  'trial.trialHomePage': [
    trial.trialHomePage(csrf, { username: 'ada@example.com', firstName: 'Ada', app: { id: 3, name: 'Analytical trial app', access: true }, infos }),
    trial.trialHomePage(csrf, { username: 'ada@example.com', firstName: 'Ada', app: { id: 3, name: 'Analytical trial app', access: true }, infos: { ...infos, status: 'converted', daysLeft: null } }),
    trial.trialHomePage(csrf, { username: 'ada@example.com', firstName: 'Ada', app: undefined, infos: undefined }),
  ],
  'trial.passwordResetRequestPage': [trial.passwordResetRequestPage(csrf), trial.passwordResetRequestPage(csrf, 'At most 3 emails per address per hour: try again later.', 429)],
  'trial.passwordResetSentPage': [trial.passwordResetSentPage()],
  'trial.newPasswordPage': [trial.newPasswordPage(csrf, { token: TOKEN, username: 'ada@example.com' }), trial.newPasswordPage(csrf, { token: TOKEN, username: 'ada@example.com', error: 'The two passwords differ.' }, 400)],
  'trial.passwordChangedPage': [trial.passwordChangedPage()],

  'invitation.invitationPage': [invitation.invitationPage(TOKEN, opened(null)), invitation.invitationPage(TOKEN, opened(8))],
  'invitation.registerPage': [invitation.registerPage(csrf, TOKEN, 'grace@example.com'), invitation.registerPage(csrf, TOKEN, 'grace@example.com', 'Too many registration emails today.', 429)],
  'invitation.checkEmailPage': [invitation.checkEmailPage('grace@example.com', 86_400_000)],
  'invitation.signInPage': [invitation.signInPage(csrf, '/join/sign-in'), invitation.signInPage(csrf, '/join/sign-in', 'Wrong username or password.', 401)],
  'invitation.newAccountPage': [
    invitation.newAccountPage(csrf, TOKEN, 'grace@example.com', '1.0'),
    invitation.newAccountPage(csrf, TOKEN, 'grace@example.com', '1.0', { reason: 'password: Password must be at least 8 characters.', values: { firstName: 'Grace', lastName: 'Hopper', username: 'grace' }, status: 400 }),
  ],
  'invitation.verificationMailedPage': [invitation.verificationMailedPage('grace@example.com', true, 2), invitation.verificationMailedPage('grace@example.com', false, 2), invitation.verificationMailedPage('grace@example.com', true, 1)],
  'invitation.unsubscribePage': [invitation.unsubscribePage(csrf, TOKEN, 'grace@example.com')],
  'invitation.unsubscribedPage': [invitation.unsubscribedPage('grace@example.com')],
  'invitation.confirmVerificationPage': [invitation.confirmVerificationPage(csrf, TOKEN, 'Crew', 'grace', true), invitation.confirmVerificationPage(csrf, TOKEN, 'Crew', 'grace', false)],
  'invitation.teamPage': [
    invitation.teamPage(csrf, { team, isMember: false, invitation: { id: 12, message: 'Come and help us' }, members, joined: false }),
    invitation.teamPage(csrf, { team, isMember: true, invitation: null, members, joined: true }),
    invitation.teamPage(csrf, { team, isMember: false, invitation: null, members, joined: false }),
  ],
  'invitation.teamsPage': [invitation.teamsPage(csrf, [team], [{ id: 6, name: 'Guild' }]), invitation.teamsPage(csrf, [], [])],

  'billing.emailFormPage': [billing.emailFormPage(csrf, { action: '/remote-billing-login/x/confirm/', email: user.email, about: billing.identityAbout(realmIdentity, organization) })],
  'billing.checkEmailPage': [billing.checkEmailPage(user.email, 86_400_000, false), billing.checkEmailPage(user.email, 86_400_000, true)],
  'billing.confirmLoginPage': [
    billing.confirmLoginPage(csrf, { action: '/remote-billing-login/x', user, about: billing.identityAbout(realmIdentity, organization), tosNeeded: true }),
    billing.confirmLoginPage(csrf, { action: '/remote-billing-login/x', user, about: billing.identityAbout({ ...realmIdentity, kind: 'server' }, organization), tosNeeded: true, error: billing.TOS_REQUIRED }),
  ],
  'billing.serverLoginPage': [billing.serverLoginPage(csrf, { nextPage: 'plans' }), billing.serverLoginPage(csrf, { nextPage: null, uuid: 'nonsense', error: 'This is not a server UUID.', status: 400 })],
  'billing.portalPage': [
    billing.portalPage({ page: 'plans', user, organization, links: (['plans', 'billing', 'upgrade', 'sponsorship', 'deactivate'] as const).map((page) => ({ page, href: `/realm/r/${page}/` })) }),
  ],
};
/** Exports that are parts of pages, audited inside the pages that show them. */
const FRAGMENTS = ['billing.identityAbout', 'billing.serverLoginRefusal'];

/** The error page of every status a page can answer with, and the dead-link page of every state. */
const ERRORS: Array<() => never> = [
  ...[400, 401, 403, 404, 409, 429, 500, 503].map((status) => () => {
    throw new HttpError(status, 'A sentence that says what went wrong.');
  }),
  ...(['unknown', 'expired', 'used'] as const).map((state) => () => {
    throw new DeadLink(state, 'This link cannot be used.', { text: 'Sign in instead:', href: '/join/sign-in', label: 'sign in' });
  }),
];

let browser: Browser;
let server: http.Server;
let baseUrl: string;
const pages = Object.entries(VIEWS).flatMap(([name, states]) => states.map((page, state) => ({ name: `${name} #${state + 1}`, page })));

beforeAll(async () => {
  const app = new Koa();
  app.use(errorHandler(renderError));
  const router = new Router();
  router.use(asPages);
  router.get('/view/:n', (ctx) => render(ctx, pages[Number(ctx.params.n)].page));
  router.get('/error/:n', (ctx) => ERRORS[Number(ctx.params.n)]());
  app.use(router.routes());
  server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** Tabs through the page once; every control that takes the focus must show it. */
async function invisibleFocus(page: BrowserPage): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (let presses = 0; presses < 60; presses++) {
    await page.keyboard.press('Tab');
    const focused = (await page.evaluate(
      `(() => { const e = document.activeElement; if (!e || e === document.body) return null; const s = getComputedStyle(e); return { what: e.outerHTML.slice(0, 80), style: s.outlineStyle, width: parseFloat(s.outlineWidth) }; })()`,
    )) as { what: string; style: string; width: number } | null;
    if (!focused || seen.has(focused.what)) break;
    seen.add(focused.what);
    if (focused.style === 'none' || focused.width < 2) problems.push(`${focused.what}: outline ${focused.style} ${focused.width}px`);
  }
  return problems;
}

describe('every page the flows render', () => {
  it('has an entry here for every exported view', () => {
    const exported = Object.entries({ trial, invitation, billing }).flatMap(([module, views]) =>
      Object.entries(views)
        .filter(([, value]) => typeof value === 'function')
        .map(([name]) => `${module}.${name}`),
    );
    expect(exported.filter((view) => !(view in VIEWS) && !FRAGMENTS.includes(view))).toEqual([]);
  });

  it('names every view as every flow does: `…Page`', () => {
    expect(Object.keys(VIEWS).filter((view) => !view.endsWith('Page'))).toEqual([]);
  });

  it('passes axe-core (WCAG 2.1 A and AA) in Chromium, with a language, a title and a visible focus on every control', async () => {
    const page = await browser.newPage();
    try {
      const urls = [...pages.map((p, n) => ({ name: p.name, url: `/view/${n}` })), ...ERRORS.map((_, n) => ({ name: `error page #${n + 1}`, url: `/error/${n}` }))];
      const found: Record<string, string[]> = {};
      for (const { name, url } of urls) {
        await page.goto(baseUrl + url);
        const problems = [
          ...(await accessibilityViolations(page)),
          ...(await invisibleFocus(page)),
          ...((await page.getAttribute('html', 'lang')) === 'en' ? [] : ['no lang="en"']),
          ...(/\S · flowgate$/.test(await page.title()) ? [] : [`title "${await page.title()}"`]),
        ];
        if (problems.length) found[name] = problems;
      }
      expect(found).toEqual({});
      expect(urls.length).toBeGreaterThan(40);
    } finally {
      await page.close();
    }
    // About fifty pages, each audited and tabbed through.
  }, 240_000);

  it('would be refused with a field without its label, or text without contrast', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${baseUrl}/view/0`);
      await page.evaluate(`document.querySelector('label[for=password]').remove(); document.querySelector('.muted').style.color = '#ccc'`);
      const violations = await accessibilityViolations(page);
      expect(violations).toEqual(expect.arrayContaining([expect.stringMatching(/^label /), expect.stringMatching(/^color-contrast /)]));
      await page.goto(`${baseUrl}/view/0`);
      await expectAccessible(page);
    } finally {
      await page.close();
    }
  });
});
