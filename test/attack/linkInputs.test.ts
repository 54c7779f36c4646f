// Every input that becomes a link, a redirect or a recipient: hostile variants
// are refused, and what reaches a mail or a Location header is exactly the
// normalized, allowed value.
import { startService, TestService } from '../support/service';
import { allEmails, emailsTo, uniqueEmail, waitForEmail } from '../support/mailbox';
import { apiClient, signUp } from '../invitations/helpers';
import crypto from 'node:crypto';
import { api as remoteApi, basicAuth, billingAccessUrl, newUser, PageClient, realmsUpload, registerDemoServer, zulipApi } from '../billing/helpers';

let service: TestService;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  service = await startService();
  api = apiClient(service.baseUrl);
});
afterAll(() => service?.stop());

/** Variants of an allowed endpoint that must all be refused: each would put something else in a mail. */
function hostileEndpoints(allowed: string): string[] {
  const url = new URL(allowed);
  const host = url.host;
  return [
    `${allowed}\nhttps://evil.example/steal?t=`,
    `${allowed}\r\nhttps://evil.example/steal?t=`,
    allowed.replace('/join', '/jo\tin'),
    ` ${allowed}`,
    `${allowed} `,
    `${allowed}\u0000`,
    `${allowed}\u2028`,
    allowed.replace(host, `${host}\\@evil.example`),
    allowed.replace('/join/', '/join\\'),
    `${allowed}%0Ahttps://evil.example/`,
    `${allowed}..%2F..%2Fevil%2F`,
    `${allowed}../../evil/`,
    allowed.replace('//', '//user:pass@'),
    allowed.replace(host, `${host}@evil.example`),
    allowed.replace(host, `good@evil.example`),
    allowed.replace('localhost', 'locаlhost'), // Cyrillic а
    allowed.replace('http://', 'HTTP://').toUpperCase(),
    allowed + 'a'.repeat(5000),
    `${url.origin}/evil/`,
    `${url.origin}/join/other/`,
    `//evil.example/join/account/`,
    'javascript:alert(1)//',
    `${url.protocol}//evil.example${url.pathname}`,
  ];
}

/** Every link in every mail to `address`. */
async function linksMailedTo(address: string): Promise<string[]> {
  return (await emailsTo(address)).flatMap((m) => m.text.match(/https?:\/\/\S+/g) ?? []);
}

describe('caller-supplied link endpoints', () => {
  it('emailValidation: only the allowed endpoint, exactly as configured, reaches the mail', async () => {
    const allowed = `${service.baseUrl}/join/account/`;
    const email = uniqueEmail('endpoint');
    for (const endpoint of hostileEndpoints(allowed)) {
      const answer = await api('POST', `/repo/v1/account/emailValidation?portalEndpoint=${encodeURIComponent(endpoint)}`, { email, firstName: 'E', lastName: 'P' });
      expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
    }
    const genuine = await api('POST', `/repo/v1/account/emailValidation?portalEndpoint=${encodeURIComponent(allowed)}`, { email, firstName: 'E', lastName: 'P' });
    expect(genuine.status).toBe(201);
    await waitForEmail(email, /Welcome/);
    const links = await linksMailedTo(email);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(link).toMatch(new RegExp(`^${allowed.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[A-Za-z0-9_-]+$`));
    expect((await allEmails()).some((m) => /evil\.example/.test(m.text + m.html))).toBe(false);
  });

  it('membership invitation and invitee verification: hostile endpoints are refused before anything is created', async () => {
    const admin = await signUp(api, service.baseUrl, 'epadmin');
    const team = await api('POST', '/repo/v1/team', { name: 'Endpoint team' }, admin.accessToken);
    const invitee = uniqueEmail('epinvitee');
    const allowed = `${service.baseUrl}/join/invitation/`;
    for (const endpoint of hostileEndpoints(allowed)) {
      const answer = await api('POST', `/repo/v1/membershipInvitation?acceptInvitationEndpoint=${encodeURIComponent(endpoint)}`, { teamId: team.body.id, inviteeEmail: invitee }, admin.accessToken);
      expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
    }
    const created = await api('POST', `/repo/v1/membershipInvitation?acceptInvitationEndpoint=${encodeURIComponent(allowed)}`, { teamId: team.body.id, inviteeEmail: invitee }, admin.accessToken);
    expect(created.status).toBe(201);
    await waitForEmail(invitee, /invited/);
    for (const link of await linksMailedTo(invitee)) expect(link.startsWith(allowed) || link.startsWith(`${service.baseUrl}/join/unsubscribe`)).toBe(true);

    const member = await signUp(api, service.baseUrl, 'epmember');
    for (const endpoint of hostileEndpoints(`${service.baseUrl}/join/unsubscribe/`)) {
      const answer = await api('POST', `/repo/v1/membershipInvitation?notificationUnsubscribeEndpoint=${encodeURIComponent(endpoint)}`, { teamId: team.body.id, inviteeId: member.accountId }, admin.accessToken);
      expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
    }

    const verifyAllowed = `${service.baseUrl}/join/verify/`;
    for (const endpoint of hostileEndpoints(verifyAllowed)) {
      const answer = await api('GET', `/repo/v1/membershipInvitation/${created.body.id}/inviteeVerificationSignedToken?portalEndpoint=${encodeURIComponent(endpoint)}`, undefined, admin.accessToken);
      expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
    }
    expect((await allEmails()).some((m) => /evil\.example/.test(m.text + m.html))).toBe(false);
  });
});

describe('email addresses', () => {
  const tricks = (base: string): string[] => {
    const [local, domain] = base.split('@');
    return [
      `${base}\n`,
      `${base}\r\nBcc: victim@evil.example`,
      `${base},victim@evil.example`,
      `${base};victim@evil.example`,
      `${local}@evil.example\u0000.${domain}`,
      `${local}\\@${domain}`,
      `"${local}"@${domain}`,
      `${local}@${domain.replace('e', 'е')}`, // Cyrillic е
      `${local}@${domain}%0a`,
      `${'a'.repeat(300)}@${domain}`,
      `${local} <victim@evil.example>`,
      `victim@evil.example (${base})`,
    ];
  };

  it('every endpoint that mails an address refuses tricks and mails only the normalized address', async () => {
    const admin = await signUp(api, service.baseUrl, 'mailadmin');
    const server = await registerDemoServer(service.baseUrl);
    const team = await api('POST', '/repo/v1/team', { name: 'Mail team' }, admin.accessToken);
    const senders: Array<[string, (address: string) => Promise<number>]> = [
      ['emailValidation', (a) => api('POST', '/repo/v1/account/emailValidation', { email: a, firstName: 'M', lastName: 'A' }).then((r) => r.status)],
      ['trial register', (a) => api('POST', '/api/trial/register', { username: a }).then((r) => r.status)],
      ['invitation', (a) => api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: a }, admin.accessToken).then((r) => r.status)],
      ['billing email form', async (a) => {
        const url = await billingAccessUrl(service.baseUrl, server, newUser(uniqueEmail('billingtrick')));
        const page = new PageClient(service.baseUrl);
        return (await page.submit(await page.get(url.slice(service.baseUrl.length)), { email: a })).status;
      }],
      ['billing server registration', (a) =>
        remoteApi(service.baseUrl, '/api/v1/remotes/server/register', { zulip_org_id: crypto.randomUUID(), zulip_org_key: crypto.randomBytes(32).toString('hex'), hostname: 'chat.example.test', contact_email: a }).then((r) => r.status)],
    ];
    const mailsTo = new Set(['billing server registration']);
    for (const [name, send] of senders) {
      const base = uniqueEmail(name.replace(/\W/g, '')).toLowerCase();
      for (const trick of tricks(base)) {
        const status = await send(trick);
        expect({ name, trick, status }).toEqual({ name, trick, status: 400 });
      }
      // Case and surrounding spaces are normalized rather than refused.
      expect(await send(`  ${base.toUpperCase()} `)).toBeLessThan(300);
      if (mailsTo.has(name)) continue; // stored as the server's contact, not mailed
      const mail = await waitForEmail(base);
      expect(mail.to.map((t) => t.address)).toEqual([base]);
    }
    expect((await allEmails()).some((m) => m.to.some((t) => /evil\.example/.test(t.address)))).toBe(false);
  });
});

describe('redirect targets', () => {
  it('sign-in `next` only ever leads to one of our own pages', async () => {
    const user = await signUp(api, service.baseUrl, 'nextuser');
    const targets = ['//evil.example/', '/\\evil.example', '/join/..//evil.example', '/join/%2F%2Fevil.example', 'https://evil.example/', '/join/\r\nLocation: https://evil.example', '/join/team/1?x=https://evil.example', '/join/teams'];
    for (const next of targets) {
      const page = await fetch(`${service.baseUrl}/join/sign-in?next=${encodeURIComponent(next)}`);
      const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1];
      const res = await fetch(`${service.baseUrl}/join/sign-in?next=${encodeURIComponent(next)}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ _csrf: csrf, username: user.username, password: 'correct-horse-1!' }).toString(),
      });
      const location = res.headers.get('location') ?? '';
      expect({ next, location: /^\/join\/[A-Za-z0-9/_-]*$/.test(location) }).toEqual({ next, location: true });
    }
  });

  it('realm hosts a server uploads cannot point a redirect elsewhere', async () => {
    const server = await registerDemoServer(service.baseUrl);
    for (const host of ['evil.example/x', 'good.example@evil.example', 'good.example\\@evil.example', 'evil.example#', ' evil.example', 'evil.example\n', 'EVIL.example:99999', 'exаmple.com']) {
      const res = await zulipApi(service.baseUrl, '/api/v1/remotes/server/analytics', realmsUpload([{ ...server.realm, host }]), basicAuth(server.uuid, server.key));
      expect({ host, status: res.status }).toEqual({ host, status: 400 });
    }
  });
});
