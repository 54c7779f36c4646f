// Every input that becomes a link, a redirect or a recipient: hostile variants
// are refused, and what reaches a mail or a Location header is exactly the
// normalized, allowed value.
import { serviceFor, startService, TestService } from '../support/service';
import { allEmails, emailsTo, ReceivedEmail, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';
import { firstForm, PageResponse } from '../support/pageClient';
import { apiClient, signUp } from '../invitations/helpers';
import crypto from 'node:crypto';
import { api as remoteApi, basicAuth, billingAccessUrl, newUser, PageClient, realmsUpload, registerDemoServer, zulipApi } from '../billing/helpers';
import { INVITEE_VERIFICATION_TOKEN, MEMBERSHIP_INVITATION_TOKEN, NOTIFICATION_UNSUBSCRIBE_TOKEN } from '../../src/domain/invitation';
import { TokenSigner } from '../../src/shared/tokens';

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
    // Look-alikes of the allowed value as a prefix: only the exact value is allowed, not what starts or ends like it.
    allowed.replace(/\/$/, ''),
    allowed.replace(/\/$/, 'EVIL'),
    allowed.replace(/\/$/, 'EVIL/'),
    `${allowed}x/`,
    `${allowed}?next=https://evil.example/`,
    `${allowed}#`,
    `//evil.example/join/account/`,
    'javascript:alert(1)//',
    `${url.protocol}//evil.example${url.pathname}`,
  ];
}

/** The links in a mail's text; its HTML part must carry the same ones. */
function linksIn(mail: ReceivedEmail): string[] {
  const text = mail.text.match(/https?:\/\/\S+/g) ?? [];
  expect(new Set(mail.html.match(/https?:\/\/[^\s"<]+/g))).toEqual(new Set(text));
  return text;
}

/** Every link in every mail to `address`. */
async function linksMailedTo(address: string): Promise<string[]> {
  return (await emailsTo(address)).flatMap(linksIn);
}

/**
 * Checks that `link` is exactly `endpoint` followed by a genuine token of
 * `type` carrying `fields`, and returns that token as it travels.
 */
function expectLinkTo(link: string, endpoint: string, signer: TokenSigner, type: string, fields: Record<string, string>): string {
  expect(link.slice(0, endpoint.length)).toBe(endpoint);
  const serialized = link.slice(endpoint.length);
  const token = signer.parseAndVerify(type, serialized);
  expect(token).toMatchObject(fields);
  // Nothing before, after or inside the token but the token itself.
  expect(serialized).toBe(TokenSigner.serialize(token));
  return serialized;
}

/**
 * The links of invitations, notices and invitee verifications: every hostile
 * variant of each endpoint is refused, and each mail links to exactly the
 * endpoint asked for, followed by its token.
 */
async function invitationLinks(svc: TestService, endpoints: { accept: string; unsubscribe: string; verify: string }) {
  const api = apiClient(svc.baseUrl);
  const signer = svc.deps.signer;
  const admin = await signUp(api, svc.baseUrl, 'epadmin');
  const team = await api('POST', '/repo/v1/team', { name: 'Endpoint team' }, admin.accessToken);
  const invitee = uniqueEmail('epinvitee');
  for (const endpoint of hostileEndpoints(endpoints.accept)) {
    const answer = await api('POST', `/repo/v1/membershipInvitation?acceptInvitationEndpoint=${encodeURIComponent(endpoint)}`, { teamId: team.body.id, inviteeEmail: invitee }, admin.accessToken);
    expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
  }
  const created = await api('POST', `/repo/v1/membershipInvitation?acceptInvitationEndpoint=${encodeURIComponent(endpoints.accept)}`, { teamId: team.body.id, inviteeEmail: invitee }, admin.accessToken);
  expect(created.status).toBe(201);
  const [joinLink, ...otherLinks] = linksIn(await waitForEmail(invitee, /invited/));
  expect(otherLinks).toEqual([]);
  const invitationToken = expectLinkTo(joinLink, endpoints.accept, signer, MEMBERSHIP_INVITATION_TOKEN, { membershipInvitationId: String(created.body.id) });

  const member = await signUp(api, svc.baseUrl, 'epmember');
  for (const endpoint of hostileEndpoints(endpoints.unsubscribe)) {
    const answer = await api('POST', `/repo/v1/membershipInvitation?notificationUnsubscribeEndpoint=${encodeURIComponent(endpoint)}`, { teamId: team.body.id, inviteeId: member.accountId }, admin.accessToken);
    expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
  }
  const noticed = await api('POST', `/repo/v1/membershipInvitation?notificationUnsubscribeEndpoint=${encodeURIComponent(endpoints.unsubscribe)}`, { teamId: team.body.id, inviteeId: member.accountId }, admin.accessToken);
  expect(noticed.status).toBe(201);
  const notice = await waitForEmail(member.email, /invited/);
  const [teamLink, unsubscribeLink, ...more] = linksIn(notice);
  expect({ teamLink, more }).toEqual({ teamLink: `${svc.baseUrl}/join/team/${team.body.id}`, more: [] });
  expectLinkTo(unsubscribeLink, endpoints.unsubscribe, signer, NOTIFICATION_UNSUBSCRIBE_TOKEN, { accountId: String(member.accountId) });
  expect(notice.headers['list-unsubscribe']).toBe(`<${unsubscribeLink}>`);

  for (const endpoint of hostileEndpoints(endpoints.verify)) {
    const answer = await api('GET', `/repo/v1/membershipInvitation/${created.body.id}/inviteeVerificationSignedToken?portalEndpoint=${encodeURIComponent(endpoint)}`, undefined, admin.accessToken);
    expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
  }
  // Another account holding the invitation link: the invited address is mailed a verification link.
  const verification = await api('GET', `/repo/v1/membershipInvitation/${created.body.id}/inviteeVerificationSignedToken?portalEndpoint=${encodeURIComponent(endpoints.verify)}`, undefined, member.accessToken, { 'X-Invitation-Token': invitationToken });
  expect({ status: verification.status, mailed: verification.body.verificationEmailSent }).toEqual({ status: 403, mailed: true });
  const [verifyLink, ...rest] = linksIn(await waitForEmail(invitee, /Confirm your invitation/));
  expect(rest).toEqual([]);
  expectLinkTo(verifyLink, endpoints.verify, signer, INVITEE_VERIFICATION_TOKEN, { membershipInvitationId: String(created.body.id), inviteeId: String(member.accountId) });
  expect((await allEmails()).some((m) => /evil\.example/.test(m.text + m.html))).toBe(false);
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

  it('membership invitation, invitation notice and invitee verification: only the allowed endpoint, exactly, followed by the token', async () => {
    await invitationLinks(service, { accept: `${service.baseUrl}/join/invitation/`, unsubscribe: `${service.baseUrl}/join/unsubscribe/`, verify: `${service.baseUrl}/join/verify/` });
  });
});

describe('caller-supplied link endpoints a deployment allows besides its own pages', () => {
  const endpoints = { accept: 'http://localhost:8080/join/invitation/', unsubscribe: 'http://localhost:8080/join/unsubscribe/', verify: 'http://localhost:8080/join/verify/' };
  const configured = serviceFor({
    ACCEPT_INVITATION_ENDPOINTS: endpoints.accept,
    NOTIFICATION_UNSUBSCRIBE_ENDPOINTS: endpoints.unsubscribe,
    INVITEE_VERIFICATION_ENDPOINTS: endpoints.verify,
  });

  it('match the configured value exactly, not as a prefix, and the mail links to it followed by the token', async () => {
    await invitationLinks(configured(), endpoints);
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

  /** What a refused form post must answer: the layout's page with the reason, for the person who typed the address. */
  const readable = (page: PageResponse) => ({
    type: page.headers.get('content-type'),
    title: page.h1 !== '',
    reason: /<p class="error"[^>]*>[^<]+<\/p>/.test(page.text),
  });

  it('every endpoint that mails an address refuses tricks and mails only the normalized address', async () => {
    const admin = await signUp(api, service.baseUrl, 'mailadmin');
    const server = await registerDemoServer(service.baseUrl);
    const team = await api('POST', '/repo/v1/team', { name: 'Mail team' }, admin.accessToken);
    const status = (r: { status: number }) => ({ status: r.status });
    const senders: Array<{ name: string; send: (address: string) => Promise<{ status: number; page?: PageResponse }>; mailed?: false; before?: (base: string) => Promise<unknown> }> = [
      { name: 'emailValidation', send: (a) => api('POST', '/repo/v1/account/emailValidation', { email: a, firstName: 'M', lastName: 'A' }).then(status) },
      { name: 'trial register', send: (a) => api('POST', '/api/trial/register', { username: a }).then(status) },
      { name: 'invitation', send: (a) => api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: a }, admin.accessToken).then(status) },
      {
        name: 'billing email form',
        send: async (a) => {
          const url = await billingAccessUrl(service.baseUrl, server, newUser(uniqueEmail('billingtrick')));
          const page = new PageClient(service.baseUrl);
          const answer = await page.submit(await page.get(url.slice(service.baseUrl.length)), { email: a });
          return { status: answer.status, page: answer };
        },
      },
      {
        name: 'billing legacy server login',
        send: async (a) => {
          const page = new PageClient(service.baseUrl);
          const emailForm = await page.submit(await page.get('/serverlogin/'), { zulip_org_id: server.uuid, zulip_org_key: server.key });
          expect(firstForm(emailForm).action).toBe(`/serverlogin/${server.uuid}/confirm/`);
          const answer = await page.submit(emailForm, { email: a });
          return { status: answer.status, page: answer };
        },
      },
      {
        name: 'trial password-reset form',
        // The reset mail goes only to an address with an account.
        before: (base) => signUp(api, service.baseUrl, 'resettrick', { email: base }),
        send: async (a) => {
          const page = new PageClient(service.baseUrl);
          const answer = await page.submit(await page.get('/trial/password-reset'), { username: a });
          return { status: answer.status, page: answer };
        },
      },
      {
        name: 'billing server registration',
        mailed: false, // stored as the server's contact, not mailed
        send: (a) => remoteApi(service.baseUrl, '/api/v1/remotes/server/register', { zulip_org_id: crypto.randomUUID(), zulip_org_key: crypto.randomBytes(32).toString('hex'), hostname: 'chat.example.test', contact_email: a }).then(status),
      },
    ];
    for (const { name, send, mailed, before } of senders) {
      const base = uniqueEmail(name.replace(/\W/g, '')).toLowerCase();
      const local = base.split('@')[0];
      await before?.(base);
      const earlier = (await emailsTo(base)).length;
      for (const trick of tricks(base)) {
        const { status, page } = await send(trick);
        expect({ name, trick, status }).toEqual({ name, trick, status: 400 });
        if (page) expect({ name, trick, ...readable(page) }).toEqual({ name, trick, type: 'text/html; charset=utf-8', title: true, reason: true });
      }
      // Case and surrounding spaces are normalized rather than refused.
      expect((await send(`  ${base.toUpperCase()} `)).status).toBeLessThan(300);
      if (mailed === false) continue;
      const mails = await waitForEmails(base, undefined, earlier + 1);
      expect(mails.slice(earlier).map((m) => m.to.map((t) => t.address))).toEqual([[base]]);
      // No refused value got a mail of its own, at whatever address it could be read as.
      const stray = (await allEmails()).flatMap((m) => m.to.map((t) => t.address.toLowerCase())).filter((a) => a !== base && (a.includes(local) || a.length > 254));
      expect({ name, stray }).toEqual({ name, stray: [] });
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
