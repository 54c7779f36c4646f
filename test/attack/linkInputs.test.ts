// Every input that becomes a link, a redirect or a recipient: hostile variants
// are refused, and what reaches a mail or a Location header is exactly the
// normalized, allowed value.
import { serviceFor, startService, TestService } from '../support/service';
import { allEmails, emailsTo, linkIn, ReceivedEmail, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';
import { firstForm, PageResponse } from '../support/pageClient';
import { apiClient, PASSWORD, signUp } from '../invitations/helpers';
import crypto from 'node:crypto';
import { api as remoteApi, basicAuth, billingAccessUrl, newUser, PageClient, realmsUpload, registerDemoServer, zulipApi } from '../billing/helpers';
import { AccountCreationToken, EMAIL_VALIDATION_TOKEN, INVITEE_VERIFICATION_TOKEN, MEMBERSHIP_INVITATION_TOKEN, NOTIFICATION_UNSUBSCRIBE_TOKEN } from '../../src/domain/invitation';
import { TokenSigner } from '../../src/shared/tokens';
import { SESSION_TOKEN } from '../../src/domain/billing';

let service: TestService;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  // Each page client speaks from its own address (billing helpers' PageClient): per-address mail limits stay per test client.
  service = await startService({ TRUST_PROXY: '1' });
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

/**
 * The registration link (emailValidation's portalEndpoint): every hostile
 * variant of the endpoint is refused, and the mail links to exactly the
 * endpoint asked for, followed by the AccountCreationToken for the address.
 */
async function accountCreationLinks(svc: TestService, allowed: string) {
  const api = apiClient(svc.baseUrl);
  const email = uniqueEmail('endpoint');
  for (const endpoint of hostileEndpoints(allowed)) {
    const answer = await api('POST', `/repo/v1/account/emailValidation?portalEndpoint=${encodeURIComponent(endpoint)}`, { email, firstName: 'E', lastName: 'P' });
    expect({ endpoint, status: answer.status }).toEqual({ endpoint, status: 400 });
  }
  const genuine = await api('POST', `/repo/v1/account/emailValidation?portalEndpoint=${encodeURIComponent(allowed)}`, { email, firstName: 'E', lastName: 'P' });
  expect(genuine.status).toBe(201);
  await waitForEmail(email, /Welcome/);
  const [link, ...others] = await linksMailedTo(email);
  expect(others).toEqual([]);
  expect(link.slice(0, allowed.length)).toBe(allowed);
  const serialized = link.slice(allowed.length);
  const envelope = TokenSigner.parse(serialized) as AccountCreationToken;
  expect(svc.deps.signer.verify(EMAIL_VALIDATION_TOKEN, envelope.emailValidationSignedToken)).toMatchObject({ email });
  // Nothing before, after or inside the token but the token itself.
  expect(serialized).toBe(Buffer.from(JSON.stringify(envelope)).toString('base64url'));
  expect((await allEmails()).some((m) => /evil\.example/.test(m.text + m.html))).toBe(false);
}

describe('caller-supplied link endpoints', () => {
  it('emailValidation: only the allowed endpoint, exactly as configured, reaches the mail', async () => {
    await accountCreationLinks(service, `${service.baseUrl}/join/account/`);
  });

  it('membership invitation, invitation notice and invitee verification: only the allowed endpoint, exactly, followed by the token', async () => {
    await invitationLinks(service, { accept: `${service.baseUrl}/join/invitation/`, unsubscribe: `${service.baseUrl}/join/unsubscribe/`, verify: `${service.baseUrl}/join/verify/` });
  });
});

describe('caller-supplied link endpoints a deployment allows besides its own pages', () => {
  const endpoints = { accept: 'http://localhost:8080/join/invitation/', unsubscribe: 'http://localhost:8080/join/unsubscribe/', verify: 'http://localhost:8080/join/verify/', account: 'http://localhost:8080/join/account/' };
  const configured = serviceFor({
    ACCEPT_INVITATION_ENDPOINTS: endpoints.accept,
    NOTIFICATION_UNSUBSCRIBE_ENDPOINTS: endpoints.unsubscribe,
    INVITEE_VERIFICATION_ENDPOINTS: endpoints.verify,
    ACCOUNT_CREATION_ENDPOINTS: endpoints.account,
  });

  it('match the configured value exactly, not as a prefix, and the mail links to it followed by the token', async () => {
    await invitationLinks(configured(), endpoints);
  });

  it('emailValidation: the configured account-creation endpoint exactly, followed by the token', async () => {
    await accountCreationLinks(configured(), endpoints.account);
  });
});

/** Variants of an address that must all be refused: each could reach another mailbox, or more than one. */
function addressTricks(base: string): string[] {
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
}

describe('email addresses', () => {
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
      { name: 'legacy trial register', send: (a) => api('POST', '/api/legacy/trial/register', { username: a }).then(status) },
      {
        name: 'billing access URL user',
        // The server names its user's address; the portal's page offers it, and the person sends the confirmation to it as offered.
        send: async (a) => {
          const asked = await zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { user: newUser(a), realm: { uuid: server.realm.uuid } }, basicAuth(server.uuid, server.key));
          if (asked.status !== 200) return { status: asked.status };
          const page = new PageClient(service.baseUrl);
          const form = await page.get(new URL(asked.json.billing_access_url as string).pathname);
          const offered = /<input id="email" name="email" type="email" value="([^"]*)"/.exec(form.text)![1];
          const answer = await page.submit(form, { email: offered });
          return { status: answer.status === 200 ? asked.status : answer.status };
        },
      },
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
      for (const trick of addressTricks(base)) {
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

describe('usernames of the trial service and operator endpoints', () => {
  it('refuse the same tricks, and answer for exactly the normalized address', async () => {
    const base = uniqueEmail('trialservice').toLowerCase();
    const local = base.split('@')[0];
    expect((await api('POST', '/api/trial/register', { username: base })).status).toBe(202);
    const token = new URL(linkIn(await waitForEmail(base, /Verify/), `${service.baseUrl}/trial/register?token=`)).searchParams.get('token')!;
    const created = await api('POST', '/api/trial/creation', { token, password: PASSWORD });
    expect(created.status).toBe(201);
    const login = await api('POST', '/api/trial/login', { username: base, password: PASSWORD });
    expect(login.status).toBe(200);
    const operator = { Authorization: `Bearer ${service.config.adminToken}` };
    // Completion last: it converts the trial.
    const calls: [string, (username: string) => Promise<{ status: number; body: Record<string, unknown> }>][] = [
      ['infos', (u) => api('GET', `/api/trial/infos?username=${encodeURIComponent(u)}`)],
      ['extend', (u) => api('POST', '/api/trial/extend', { username: u, days: 1 }, undefined, operator)],
      ['embed-token', (u) => api('POST', '/api/trial/embed-token', { username: u, appId: created.body.appId }, login.body.accessToken)],
      ['completion', (u) => api('POST', '/api/trial/completion', { username: u }, undefined, operator)],
    ];
    const mailsBefore = (await allEmails()).length;
    for (const [name, call] of calls) {
      for (const trick of addressTricks(base)) expect({ name, trick, status: (await call(trick)).status }).toEqual({ name, trick, status: 400 });
      const answer = await call(`  ${base.toUpperCase()} `);
      expect({ name, status: answer.status }).toEqual({ name, status: 200 });
      if (name === 'embed-token') expect(typeof answer.body.token).toBe('string');
      else expect({ name, username: answer.body.username }).toEqual({ name, username: base });
    }
    // None of them mails: no address, normalized or not, got one.
    const mailed = (await allEmails()).slice(mailsBefore).flatMap((m) => m.to.map((t) => t.address.toLowerCase()));
    expect(mailed.filter((a) => a.includes(local) || /evil\.example/.test(a))).toEqual([]);
  });
});

describe('redirect targets', () => {
  /** Where the sign-in form for `next` posts, and the Location a correct sign-in posted with `next` itself answers with. */
  async function signInLocation(user: { username: string }, next: string): Promise<{ formNext: string | null; status: number; location: string | null }> {
    const page = new PageClient(service.baseUrl);
    const query = `/join/sign-in?next=${encodeURIComponent(next)}`;
    const formNext = new URL(firstForm(await page.get(query)).action, service.baseUrl).searchParams.get('next');
    // Posted as a crafted link would, with the raw value rather than the one the form carries.
    const signedIn = await page.post(query, { username: user.username, password: PASSWORD });
    return { formNext, status: signedIn.status, location: signedIn.location };
  }

  it('sign-in `next` leads to exactly the page named when it is one of ours, and to /join/teams otherwise', async () => {
    const user = await signUp(api, service.baseUrl, 'nextuser');
    const allowed = ['/join/teams', '/join/team/42', '/join/invitation/abc_DEF-123'];
    const refused = [
      '//evil.example/',
      '///evil.example/',
      '/\\evil.example',
      '\\/evil.example',
      '/join/..//evil.example',
      '/join//evil.example',
      '/join/%2F%2Fevil.example',
      '/join%2F..%2F..%2Fevil',
      '/join/%2e%2e/%2e%2e/evil',
      '/join/%0d%0aLocation:%20https://evil.example',
      '/join/\r\nLocation: https://evil.example',
      '/join/te\tams',
      '/join/\tteams',
      ' /join/teams',
      '/join/teams ',
      '/join/te ams',
      '/join\\teams',
      '/join/teams\\',
      '/join/team/1?x=https://evil.example',
      '/join/team/1#https://evil.example',
      'https://evil.example/',
      'https://evil.example/join/teams',
      `${service.baseUrl}@evil.example/join/teams`,
      '//good@evil.example/join/teams',
      'http://localhost@evil.example/join/teams',
      'javascript:alert(1)//',
      '/jоin/teams', // Cyrillic о
      '/join/tеams', // Cyrillic е
      '/join/team/１', // fullwidth digit
      `/join/${'a'.repeat(5000)}`,
      `/join/teams/${'a'.repeat(195)}`,
      '/join',
      '/join/',
      '/join/teams/',
      '',
    ];
    for (const next of allowed) expect({ next, ...(await signInLocation(user, next)) }).toEqual({ next, formNext: next, status: 302, location: next });
    for (const next of refused) expect({ next, ...(await signInLocation(user, next)) }).toEqual({ next, formNext: '/join/teams', status: 302, location: '/join/teams' });
  });

  it('billing: next_page and uri_scheme are one of their few values, and the Locations built from them are exactly ours', async () => {
    const server = await registerDemoServer(service.baseUrl);
    const ask = (fields: Record<string, unknown>) =>
      zulipApi(service.baseUrl, '/api/v1/remotes/server/billing', { user: newUser(uniqueEmail('redirect')), realm: { uuid: server.realm.uuid }, ...fields }, basicAuth(server.uuid, server.key));
    const hostilePages = ['https://evil.example/', '//evil.example', '/billing', 'billing/', 'billing/../../evil', '../evil', 'billing\n', 'billing\r\nLocation: https://evil.example', ' billing', 'billing ', 'bill\ting', 'BILLING', 'bill%69ng', 'billing%2F..%2Fevil', 'billing?x=1', 'billing#x', 'billing\\', 'bіlling', 'a'.repeat(5000)];
    const hostileSchemes = ['javascript:', 'https:', 'https:/', 'https:\\\\', '//', 'https://evil.example/', 'https://good@', 'HTTPS://', ' https://', 'https:// ', 'https://\n', 'ftp://', 'http:\t//', 'httрs://', 'https://'.repeat(1000)];
    for (const next_page of hostilePages) expect({ next_page, status: (await ask({ next_page })).status }).toEqual({ next_page, status: 400 });
    for (const uri_scheme of hostileSchemes) expect({ uri_scheme, status: (await ask({ uri_scheme })).status }).toEqual({ uri_scheme, status: 400 });
    for (const next_page of hostilePages) {
      const legacy = await new PageClient(service.baseUrl).get(`/serverlogin/?next_page=${encodeURIComponent(next_page)}`);
      expect({ next_page, status: legacy.status }).toEqual({ next_page, status: 400 });
    }

    // A whole login, asked for with next_page=upgrade over http://: it ends on exactly the upgrade page.
    const email = uniqueEmail('redirectlogin');
    const access = await ask({ user: newUser(email), next_page: 'upgrade', uri_scheme: 'http://' });
    expect(access.status).toBe(200);
    const client = new PageClient(service.baseUrl);
    const url = new URL(access.json.billing_access_url as string);
    await client.submit(await client.get(url.pathname), { email });
    const confirm = await client.follow(await client.get(linkIn(await waitForEmail(email, /Confirm/), service.baseUrl)));
    const loggedIn = await client.submit(confirm, { full_name: 'Redirect Test', tos_consent: 'on' });
    expect({ status: loggedIn.status, location: loggedIn.location }).toEqual({ status: 303, location: `/realm/${server.realm.uuid}/upgrade/` });

    // Its session, once expired, sends the browser back to exactly the server's own billing page, with the scheme it asked for.
    const session = TokenSigner.parse(decodeURIComponent(client.cookie('fg_billing_session')!)) as Record<string, string | number>;
    client.setCookie('fg_billing_session', TokenSigner.serialize(service.deps.signer.sign(SESSION_TOKEN, { ...session, exp: Date.now() - 1000 })));
    const expired = await client.get(`/realm/${server.realm.uuid}/plans/`);
    expect({ status: expired.status, location: expired.location }).toEqual({ status: 302, location: `http://${server.realm.host}/self-hosted-billing/?next_page=plans` });
    for (const page of ['evil.example', '..%2F..%2Fevil', 'plans%0d%0aLocation:%20https:%2F%2Fevil.example']) {
      const other = await client.get(`/realm/${server.realm.uuid}/${page}/`);
      expect({ page, status: other.status, location: other.location }).toEqual({ page, status: 404, location: null });
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
