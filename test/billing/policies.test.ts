import type { TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';
import crypto from 'node:crypto';
import { issueAccessToken, renewAccessLink, tosConsentNeeded, verifyAccessToken } from '../../src/domain/billing';
import { TokenError, TokenSigner } from '../../src/shared/tokens';
import { billingAccessUrl, DemoServer, newUser, PageClient, randomIp, registerDemoServer, startBillingService } from './helpers';

const CONFIRM_SUBJECT = 'Confirm email for plan management';

describe('terms-of-service versions', () => {
  it('asks again only when the major version grows', () => {
    expect(tosConsentNeeded(null, '1.0')).toBe(true);
    expect(tosConsentNeeded('1.0', '1.0')).toBe(false);
    expect(tosConsentNeeded('1.0', '1.7')).toBe(false);
    expect(tosConsentNeeded('1.9', '2.0')).toBe(true);
    expect(tosConsentNeeded('2.0', '1.0')).toBe(false);
  });
});

describe('renewing an access link', () => {
  const signer = new TokenSigner('a'.repeat(40));
  const identity = { kind: 'realm' as const, serverUuid: crypto.randomUUID(), realmUuid: crypto.randomUUID(), userUuid: crypto.randomUUID(), email: 'a@example.test', fullName: 'A', uriScheme: 'https://', nextPage: null };
  const HOUR = 3600_000;
  const fields = (token: string) => JSON.parse(Buffer.from(token, 'base64url').toString()) as { iat: number; exp: number };

  it('gives the full time again from the view, keeping the issue time, but never beyond a day after issue', () => {
    const issuedAt = Date.now() - 90 * 60_000;
    const token = issueAccessToken(signer, identity, 2 * HOUR, issuedAt);
    const now = Date.now();
    const renewed = renewAccessLink(signer, token, 'realm', 2 * HOUR, now);
    expect(fields(renewed)).toMatchObject({ iat: issuedAt, exp: now + 2 * HOUR });
    expect(verifyAccessToken(signer, renewed, 'realm')).toEqual(identity);
    const late = issueAccessToken(signer, identity, 23.5 * HOUR, Date.now() - 23 * HOUR);
    expect(fields(renewAccessLink(signer, late, 'realm', 2 * HOUR)).exp).toBe(fields(late).iat + 24 * HOUR);
    // A link that has expired, or is not genuine, is not renewed.
    expect(() => renewAccessLink(signer, issueAccessToken(signer, identity, HOUR, Date.now() - 2 * HOUR), 'realm', HOUR)).toThrow(TokenError);
    expect(() => renewAccessLink(new TokenSigner('b'.repeat(40)), token, 'realm', HOUR)).toThrow(TokenError);
  });
});

describe('billing login limits and expiry', () => {
  /** Default configuration; trusts X-Forwarded-For so tests can speak from several IP addresses. */
  let service: TestService;
  /** Terms of service 2.0 and short confirmation and session times. */
  let short: TestService;

  beforeAll(async () => {
    service = await startBillingService();
    short = await startBillingService({ TERMS_OF_SERVICE_VERSION: '2.0', BILLING_CONFIRMATION_TTL: '3s', BILLING_SESSION_TTL: '3s' });
  });
  afterAll(async () => {
    await service.stop();
    await short.stop();
  });

  async function requestMail(client: PageClient, baseUrl: string, server: DemoServer, email = uniqueEmail('limit')) {
    const url = await billingAccessUrl(baseUrl, server, newUser(email));
    await client.get(url);
    return { email, res: await client.post(new URL(url).pathname + '/confirm/', { email }) };
  }

  it('allows 5 confirmation mails per IP address per day, then answers 429 naming that limit', async () => {
    const server = await registerDemoServer(service.baseUrl);
    const client = new PageClient(service.baseUrl, { 'X-Forwarded-For': '198.51.100.7' });
    for (let i = 0; i < 5; i++) expect((await requestMail(client, service.baseUrl, server)).res.h1).toBe('Check your email');
    const { email, res } = await requestMail(client, service.baseUrl, server);
    expect(res.status).toBe(429);
    expect(res.text).toContain('from your IP address');
    expect(await service.db.sentEmail.count({ where: { recipient: email } })).toBe(0);
    // Another address is not limited.
    const elsewhere = new PageClient(service.baseUrl, { 'X-Forwarded-For': '198.51.100.8' });
    expect((await requestMail(elsewhere, service.baseUrl, server)).res.h1).toBe('Check your email');
  });

  it('holds the per-IP limit when many requests arrive at the same moment', async () => {
    const server = await registerDemoServer(service.baseUrl);
    const ip = randomIp();
    // Eight people behind one address, each with a form open, all pressing the button at once.
    const forms = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const client = new PageClient(service.baseUrl, { 'X-Forwarded-For': ip });
        const email = uniqueEmail('burst');
        const url = await billingAccessUrl(service.baseUrl, server, newUser(email));
        await client.get(url);
        return { client, email, action: new URL(url).pathname + '/confirm/' };
      }),
    );
    const answers = await Promise.all(forms.map(({ client, email, action }) => client.post(action, { email })));
    expect(answers.filter((a) => a.h1 === 'Check your email')).toHaveLength(5);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(3);
    for (const a of refused) expect(a.text).toContain('from your IP address');
    expect(await service.db.billingConfirmation.count({ where: { ip } })).toBe(5);
    expect(await service.db.sentEmail.count({ where: { recipient: { in: forms.map((f) => f.email) } } })).toBe(5);
  });

  it('allows 10 confirmation mails per server per day, then answers 429 naming that limit', async () => {
    const server = await registerDemoServer(service.baseUrl);
    for (let i = 0; i < 10; i++) {
      const client = new PageClient(service.baseUrl, { 'X-Forwarded-For': `203.0.113.${i + 1}` });
      expect((await requestMail(client, service.baseUrl, server)).res.h1).toBe('Check your email');
    }
    const client = new PageClient(service.baseUrl, { 'X-Forwarded-For': '203.0.113.99' });
    const { res } = await requestMail(client, service.baseUrl, server);
    expect(res.status).toBe(429);
    expect(res.text).toContain('for this server');
    expect(res.h1).toBe('Too many confirmation emails');
  });

  it('asks for consent again after a major terms-of-service version bump', async () => {
    const server = await registerDemoServer(service.baseUrl);
    const email = uniqueEmail('tos-bump');
    const user = newUser(email);
    const client = new PageClient(service.baseUrl, { 'X-Forwarded-For': '192.0.2.10' });
    const url = await billingAccessUrl(service.baseUrl, server, user);
    await client.get(url);
    await client.post(new URL(url).pathname + '/confirm/', { email });
    const confirm = await client.follow(await client.get(linkIn(await waitForEmail(email, CONFIRM_SUBJECT), service.baseUrl)));
    const action = /<form method="post" action="([^"]+)"/.exec(confirm.text)![1];
    expect((await client.post(action, { full_name: 'Version One', tos_consent: 'on' })).status).toBe(303);
    await service.temporal.workflow.getHandle(`billing-login/${server.realm.uuid}/${user.uuid}`).result();

    // The same portal, now at terms version 2.0.
    const later = new PageClient(short.baseUrl);
    const url2 = await billingAccessUrl(short.baseUrl, server, user);
    const page = await later.get(url2);
    expect(page.h1).toBe('Confirm login');
    expect(page.text).toContain('tos_consent');
    const refused = await later.post(new URL(url2).pathname, { full_name: 'Version Two' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('You must accept the Terms of Service to proceed.');
    expect((await later.post(new URL(url2).pathname, { full_name: 'Version Two', tos_consent: 'on' })).status).toBe(303);
    const realm = await short.db.remoteRealm.findUniqueOrThrow({ where: { uuid: server.realm.uuid } });
    const billingUser = await short.db.remoteRealmBillingUser.findUniqueOrThrow({ where: { realmId_userUuid: { realmId: realm.id, userUuid: user.uuid } } });
    expect(billingUser.tosVersion).toBe('2.0');
  });

  it('an unused confirmation link expires with its login; a used one says so', async () => {
    const server = await registerDemoServer(short.baseUrl);
    const client = new PageClient(short.baseUrl);
    const email = uniqueEmail('expire');
    const user = newUser(email);
    const url = await billingAccessUrl(short.baseUrl, server, user);
    await client.get(url);
    expect((await client.post(new URL(url).pathname + '/confirm/', { email })).h1).toBe('Check your email');
    const link = linkIn(await waitForEmail(email, CONFIRM_SUBJECT), short.baseUrl);
    // The workflow's confirmation timer (3 s here) ends the pending login.
    const handle = short.temporal.workflow.getHandle(`billing-login/${server.realm.uuid}/${user.uuid}`);
    expect(await handle.result()).toEqual({ outcome: 'expired', billingUserId: null });
    const expired = await client.get(link);
    expect(expired.status).toBe(410);
    expect(expired.h1).toBe('Confirmation link expired');

    const email2 = uniqueEmail('used');
    const url2 = await billingAccessUrl(short.baseUrl, server, newUser(email2));
    await client.get(url2);
    await client.post(new URL(url2).pathname + '/confirm/', { email: email2 });
    const link2 = linkIn((await waitForEmails(email2, CONFIRM_SUBJECT))[0], short.baseUrl);
    const confirmPage = await client.follow(await client.get(link2));
    expect(confirmPage.h1).toBe('Confirm login');
    // While the login runs, the link clicked again is the same click: the confirm-login step again.
    expect((await client.follow(await client.get(link2))).h1).toBe('Confirm login');
    // Once the person has logged in, the link is spent.
    expect((await client.submit(confirmPage, { full_name: 'Used Link', tos_consent: 'on' })).status).toBe(303);
    const used = await client.get(link2);
    expect(used.status).toBe(410);
    expect(used.h1).toBe('Confirmation link already used');
  });

  it('an expired session sends the browser back to the self-hosted server, as Zulip does', async () => {
    const server = await registerDemoServer(short.baseUrl);
    const client = new PageClient(short.baseUrl);
    const email = uniqueEmail('session');
    const url = await billingAccessUrl(short.baseUrl, server, newUser(email), 'sponsorship');
    await client.get(url);
    await client.post(new URL(url).pathname + '/confirm/', { email });
    const confirm = await client.follow(await client.get(linkIn(await waitForEmail(email, CONFIRM_SUBJECT), short.baseUrl)));
    const action = /<form method="post" action="([^"]+)"/.exec(confirm.text)![1];
    const loggedIn = await client.post(action, { full_name: 'Short Session', tos_consent: 'on' });
    expect(loggedIn.location).toBe(`/realm/${server.realm.uuid}/sponsorship/`);
    expect((await client.get(loggedIn.location!)).status).toBe(200);

    // Poll until the 3 s session has run out.
    const deadline = Date.now() + 15_000;
    let res = await client.get(`/realm/${server.realm.uuid}/billing/`);
    while (res.status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      res = await client.get(`/realm/${server.realm.uuid}/billing/`);
    }
    expect(res.status).toBe(302);
    expect(res.location).toBe(`https://${server.realm.host}/self-hosted-billing/?next_page=billing`);

    // A forged cookie is no session at all.
    client.setCookie('fg_billing_session', client.cookie('fg_billing_session')!.slice(0, -3) + 'AAA');
    expect((await client.get(`/realm/${server.realm.uuid}/billing/`)).status).toBe(401);
  });
});
