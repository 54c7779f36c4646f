// Sessions and forms: a password reset or a sign-out ends earlier sessions,
// a planted CSRF cookie does not make a forged form pass, and cookies are
// Secure with the __Host- prefix whenever the service is reached over https.
import { startService, TestService } from '../support/service';
import { linkIn, waitForEmail } from '../support/mailbox';
import { PageClient } from '../support/pageClient';
import { apiClient, Api, PASSWORD, signUp } from '../invitations/helpers';

let service: TestService;
let api: Api;

beforeAll(async () => {
  service = await startService();
  api = apiClient(service.baseUrl);
});
afterAll(() => service?.stop());

const whoAmI = (token: string) => api('POST', '/repo/v1/team', { name: 'Probe' }, token).then((r) => r.status);

describe('sessions', () => {
  it('a password reset ends every session issued before it', async () => {
    const user = await signUp(api, service.baseUrl, 'resetter');
    const before = (await api('POST', '/auth/v1/login', { username: user.username, password: PASSWORD })).body.accessToken as string;
    const browser = new PageClient(service.baseUrl);
    const login = await browser.get('/login');
    expect((await browser.submit(login, { username: user.email, password: PASSWORD })).status).toBe(303);
    expect(await whoAmI(before)).toBe(201);

    const reset = await browser.get('/trial/password-reset');
    await browser.submit(reset, { username: user.email });
    const link = linkIn(await waitForEmail(user.email, /Choose a new password/), `${service.baseUrl}/trial/password-reset/new?token=`);
    const form = await browser.get(link);
    expect((await browser.submit(form, { password: 'Another-pass-2!', confirmation: 'Another-pass-2!' })).status).toBe(200);

    expect(await whoAmI(before)).toBe(401);
    expect(await whoAmI(user.accessToken)).toBe(401);
    const home = await browser.get('/trial/app');
    expect(home.status).toBe(303);
    const after = (await api('POST', '/auth/v1/login', { username: user.username, password: 'Another-pass-2!' })).body.accessToken as string;
    expect(await whoAmI(after)).toBe(201);
  });

  it('signing out ends the session, for the API and in the browser', async () => {
    const user = await signUp(api, service.baseUrl, 'signout');
    expect(await whoAmI(user.accessToken)).toBe(201);
    expect((await api('POST', '/auth/v1/logout', undefined, user.accessToken)).status).toBe(204);
    expect(await whoAmI(user.accessToken)).toBe(401);

    const browser = new PageClient(service.baseUrl);
    const login = await browser.get('/join/sign-in');
    expect((await browser.submit(login, { username: user.username, password: PASSWORD })).status).toBe(302);
    const teams = await browser.get('/join/teams');
    expect(teams.status).toBe(200);
    const out = await browser.submit(teams, {});
    expect(out.status).toBe(303);
    expect((await browser.get('/join/teams')).status).toBe(302);
  });
});

describe('CSRF', () => {
  it('a CSRF cookie planted by an attacker, with the field made for it, does not pass for a signed-in victim', async () => {
    // The attacker reads a genuine cookie/field pair from the site.
    const attacker = new PageClient(service.baseUrl);
    const page = await attacker.get('/join/sign-in');
    const plantedCookie = attacker.cookie('fg_csrf')!;
    const field = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    expect(plantedCookie).toBeTruthy();

    // The victim is signed in; the attacker's page plants the cookie and posts the victim's Join form.
    const victim = await signUp(api, service.baseUrl, 'csrfvictim');
    const browser = new PageClient(service.baseUrl);
    const login = await browser.get('/join/sign-in');
    expect((await browser.submit(login, { username: victim.username, password: PASSWORD })).status).toBe(302);
    const forged = await fetch(`${service.baseUrl}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `fg_csrf=${plantedCookie}; fg_session=${browser.cookie('fg_session')}` },
      body: new URLSearchParams({ _csrf: field }).toString(),
    });
    expect(forged.status).toBe(403);
    expect((await browser.get('/join/teams')).status).toBe(200);
  });

  it('over https, cookies carry the __Host- prefix and Secure, with or without a trusted proxy', async () => {
    const user = await signUp(api, service.baseUrl, 'securecookies');
    for (const trustProxy of ['0', '1']) {
      const secure = await startService({ PUBLIC_URL: 'https://flows.example.test', TRUST_PROXY: trustProxy });
      try {
        const res = await fetch(`http://localhost:${secure.config.port}/login`);
        // A sign-in's device cookie as well as the page's.
        const signedIn = await fetch(`http://localhost:${secure.config.port}/auth/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user.username, password: PASSWORD }) });
        expect(signedIn.status).toBe(200);
        const device = signedIn.headers.getSetCookie();
        expect(device.map((c) => c.split('=')[0])).toEqual(['__Host-fg_device']);
        expect(device[0].toLowerCase()).toMatch(/; samesite=strict; secure; httponly$/);
        const cookies = [...res.headers.getSetCookie(), ...device];
        expect(cookies.length).toBeGreaterThan(0);
        for (const cookie of cookies) {
          expect(cookie).toMatch(/^__Host-/);
          expect(cookie.toLowerCase()).toContain('; secure');
          expect(cookie.toLowerCase()).toContain('; path=/');
          expect(cookie.toLowerCase()).not.toContain('domain=');
        }
      } finally {
        await secure.stop();
      }
    }
  });
});
