// Limits that an attacker tries to beat with parallel requests, with many
// inviters or with many guesses: each holds exactly, and answers 429 with
// Retry-After.
import { startService, TestService } from '../support/service';
import { emailsTo, uniqueEmail, waitForEmails } from '../support/mailbox';
import { PageClient } from '../support/pageClient';
import { apiClient, PASSWORD, signUp, tokenInLink } from '../invitations/helpers';
import { linkIn, waitForEmail } from '../support/mailbox';
import { randomIp } from '../billing/helpers';
import { TokenSigner } from '../../src/shared/tokens';

let service: TestService;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  service = await startService({
    TRUST_PROXY: '1',
    INVITATIONS_PER_INVITER_PER_DAY: '4',
    INVITATIONS_PER_TEAM_PER_DAY: '6',
    INVITATIONS_PER_INVITEE_PER_DAY: '2',
  });
  api = apiClient(service.baseUrl);
});
afterAll(() => service?.stop());

const REGISTRATION_MAILS_PER_DAY = 5;

/** Waits until no further mail arrives for the address, then returns the count. */
async function settledCount(address: string, subject: RegExp, atLeast: number): Promise<number> {
  await waitForEmails(address, subject, atLeast);
  // The sends are activities of one workflow: once its queue is empty the count is final.
  const workflowId = `account-email-validation/${address}`;
  const handle = service.temporal.workflow.getHandle(workflowId);
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    const history = await handle.fetchHistory();
    const scheduled = history.events!.filter((e) => e.activityTaskScheduledEventAttributes).length;
    const completed = history.events!.filter((e) => e.activityTaskCompletedEventAttributes).length;
    if (scheduled === completed) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return (await emailsTo(address, subject)).length;
}

describe('registration mails under a burst', () => {
  it('12 simultaneous emailValidation requests for one address send exactly the daily limit', async () => {
    const email = uniqueEmail('burst');
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => api('POST', '/repo/v1/account/emailValidation', { email, firstName: 'B', lastName: 'U' }, undefined, { 'X-Forwarded-For': randomIp() })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(REGISTRATION_MAILS_PER_DAY);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - REGISTRATION_MAILS_PER_DAY);
    expect(await settledCount(email, /Welcome/, REGISTRATION_MAILS_PER_DAY)).toBe(REGISTRATION_MAILS_PER_DAY);
  });

  it('12 simultaneous "Send registration info" posts on an invitation page send exactly the daily limit', async () => {
    const admin = await signUp(api, service.baseUrl, 'burstadmin');
    const team = await api('POST', '/repo/v1/team', { name: 'Burst team' }, admin.accessToken);
    const invitee = uniqueEmail('burstinvitee');
    expect((await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: invitee }, admin.accessToken)).status).toBe(201);
    const prefix = `${service.baseUrl}/join/invitation/`;
    const token = tokenInLink(linkIn(await waitForEmail(invitee, /invited/), prefix), prefix);
    const page = new PageClient(service.baseUrl, { 'X-Forwarded-For': randomIp() });
    const form = await page.get(`/join/invitation/${token}/register`);
    const statuses = await Promise.all(Array.from({ length: 12 }, () => page.submit(form, { firstName: 'B', lastName: 'U' }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(REGISTRATION_MAILS_PER_DAY);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - REGISTRATION_MAILS_PER_DAY);
    expect(await settledCount(invitee, /Welcome/, REGISTRATION_MAILS_PER_DAY)).toBe(REGISTRATION_MAILS_PER_DAY);
  });
});

describe('invitation mails', () => {
  it('hold the daily caps per inviter, per team and per invitee address, also when sent at once', async () => {
    const admin = await signUp(api, service.baseUrl, 'capadmin');
    const teams = await Promise.all([1, 2].map((i) => api('POST', '/repo/v1/team', { name: `Cap team ${i}` }, admin.accessToken)));
    // Per inviter: 4 a day, whatever team they use.
    const invitees = Array.from({ length: 7 }, () => uniqueEmail('capinvitee'));
    const answers = await Promise.all(invitees.map((email, i) => api('POST', '/repo/v1/membershipInvitation', { teamId: teams[i % 2].body.id, inviteeEmail: email }, admin.accessToken)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(4);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(3);
    for (const a of refused) expect(a.body.retryAfterSeconds).toBeGreaterThan(0);
    // Each invitation recorded mails its invitee once; the refused ones mail nobody (their flows end without a send).
    for (const [i, email] of invitees.entries()) {
      if (answers[i].status === 201) await waitForEmails(email, /invited/, 1);
    }
    expect(await Promise.all(invitees.map((e) => emailsTo(e, /invited/).then((m) => m.length)))).toEqual(answers.map((a) => (a.status === 201 ? 1 : 0)));

    // Per invitee address: 2 a day, whoever invites.
    const target = uniqueEmail('captarget');
    const others = await Promise.all([1, 2, 3].map((i) => signUp(api, service.baseUrl, `capother${i}`)));
    const otherTeams = await Promise.all(others.map((o, i) => api('POST', '/repo/v1/team', { name: `Other ${i}` }, o.accessToken)));
    const toTarget = await Promise.all(others.map((o, i) => api('POST', '/repo/v1/membershipInvitation', { teamId: otherTeams[i].body.id, inviteeEmail: target }, o.accessToken)));
    expect(toTarget.map((a) => a.status).sort()).toEqual([201, 201, 429]);
    await waitForEmails(target, /invited/, 2);
  });

  const invite = (accessToken: string, teamId: string, invitee: { inviteeEmail: string } | { inviteeId: number }) => api('POST', '/repo/v1/membershipInvitation', { teamId, ...invitee }, accessToken);
  const resend = (accessToken: string, invitationId: string) => api('POST', `/repo/v1/membershipInvitation/${invitationId}/resend`, undefined, accessToken);
  const capped = { status: 429, body: expect.objectContaining({ code: 'limit_reached', retryAfterSeconds: 3600 }) };

  it('resends are mails too: one address gets exactly its daily cap, however its invitations are sent again', async () => {
    const admin = await signUp(api, service.baseUrl, 'resendcap');
    const team = await api('POST', '/repo/v1/team', { name: 'Resend cap' }, admin.accessToken);
    const target = uniqueEmail('resendtarget');
    const first = await invite(admin.accessToken, team.body.id, { inviteeEmail: target });
    expect(first.status).toBe(201);
    await waitForEmails(target, /invited/, 1);
    // The second mail to the address is its last of the day, though the invitation may be sent again three times.
    expect((await resend(admin.accessToken, first.body.id)).status).toBe(200);
    expect(await resend(admin.accessToken, first.body.id)).toEqual(capped);
    expect(await resend(admin.accessToken, first.body.id)).toEqual(capped);
    const other = await signUp(api, service.baseUrl, 'resendcapother');
    const otherTeam = await api('POST', '/repo/v1/team', { name: 'Resend cap other' }, other.accessToken);
    expect(await invite(other.accessToken, otherTeam.body.id, { inviteeEmail: target })).toEqual(capped);
    expect(await emailsTo(target, /invited/)).toHaveLength(2);
  });

  it('an account is one address, whether invited by its id or by its address', async () => {
    const member = await signUp(api, service.baseUrl, 'onemailbox');
    const admins = await Promise.all([1, 2, 3].map((i) => signUp(api, service.baseUrl, `onemailboxadmin${i}`)));
    const teams = await Promise.all(admins.map((a, i) => api('POST', '/repo/v1/team', { name: `One mailbox ${i}` }, a.accessToken)));
    expect((await invite(admins[0].accessToken, teams[0].body.id, { inviteeId: member.accountId })).status).toBe(201);
    expect((await invite(admins[1].accessToken, teams[1].body.id, { inviteeEmail: member.email.toUpperCase() })).status).toBe(201);
    await waitForEmails(member.email, /invited/, 2);
    expect(await invite(admins[2].accessToken, teams[2].body.id, { inviteeEmail: member.email })).toEqual(capped);
    expect(await invite(admins[2].accessToken, teams[2].body.id, { inviteeId: member.accountId })).toEqual(capped);
    expect(await emailsTo(member.email, /invited/)).toHaveLength(2);
  });

  it("an inviter's resends count against the inviter's cap, and a refused resend mails nothing", async () => {
    const admin = await signUp(api, service.baseUrl, 'invitercap');
    const teams = await Promise.all([1, 2].map((i) => api('POST', '/repo/v1/team', { name: `Inviter cap ${i}` }, admin.accessToken)));
    const [x1, x2, x3] = [1, 2, 3].map(() => uniqueEmail('invitercapinvitee'));
    const i1 = await invite(admin.accessToken, teams[0].body.id, { inviteeEmail: x1 });
    const i2 = await invite(admin.accessToken, teams[1].body.id, { inviteeEmail: x2 });
    expect([i1.status, i2.status]).toEqual([201, 201]);
    await Promise.all([waitForEmails(x1, /invited/, 1), waitForEmails(x2, /invited/, 1)]);
    expect((await resend(admin.accessToken, i1.body.id)).status).toBe(200);
    expect((await resend(admin.accessToken, i2.body.id)).status).toBe(200);
    // Four mails: the inviter's cap. Neither a new invitation nor a resend goes out.
    const refused = await invite(admin.accessToken, teams[0].body.id, { inviteeEmail: x3 });
    expect(refused).toEqual(capped);
    expect(refused.body.reason).toContain('You have sent the most invitation mails allowed in a day (4).');
    expect(await resend(admin.accessToken, i1.body.id)).toEqual(capped);
    expect(await Promise.all([x1, x2, x3].map((x) => emailsTo(x, /invited/).then((m) => m.length)))).toEqual([2, 2, 0]);
    // The refused resend scheduled no mail: the invitation's flow sent its first mail and one resend.
    const handle = service.temporal.workflow.getHandle(`membership-invitation/${i1.body.id}`);
    const history = await handle.fetchHistory();
    const mailed = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendInvitationEmail');
    expect(mailed).toHaveLength(2);
  });

  it('per team: several admins together cannot exceed the team cap', async () => {
    const owner = await signUp(api, service.baseUrl, 'teamcap');
    const team = await api('POST', '/repo/v1/team', { name: 'Team cap' }, owner.accessToken);
    const coAdmins = await Promise.all([1, 2].map((i) => signUp(api, service.baseUrl, `coadmin${i}`)));
    for (const c of coAdmins) {
      expect((await api('PUT', `/repo/v1/team/${team.body.id}/member/${c.accountId}`, undefined, owner.accessToken)).status).toBe(204);
      await service.db.teamMember.update({ where: { teamId_accountId: { teamId: Number(team.body.id), accountId: c.accountId } }, data: { isAdmin: true } });
    }
    const senders = [owner, ...coAdmins];
    const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: uniqueEmail('teamcapinv') }, senders[i % 3].accessToken)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(6);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(3);
  });
});

describe('password sign-in', () => {
  const WRONG = 'Wrong-pass-1!';
  const KINDS = ['api', 'trial-api', 'login-page', 'join-page'];

  /** One client: a browser, or an API client that keeps its cookies, at one address (which it may change). */
  class Client {
    readonly cookies = new Map<string, string>();
    constructor(public ip = randomIp()) {}
  }

  /** Sign-ins through one endpoint kind, from one client; returns status and Retry-After, and keeps the cookies it is given. */
  function signInVia(kind: string, client = new Client()) {
    return async (login: string, password: string): Promise<{ status: number; retryAfter: number | null }> => {
      const headers = { 'X-Forwarded-For': client.ip };
      if (kind === 'api' || kind === 'trial-api') {
        const res = await fetch(`${service.baseUrl}${kind === 'api' ? '/auth/v1/login' : '/api/trial/login'}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', ...(client.cookies.size ? { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}) },
          body: JSON.stringify({ username: login, password }),
        });
        await res.text();
        for (const set of res.headers.getSetCookie()) {
          const [pair] = set.split(';');
          client.cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
        }
        return { status: res.status, retryAfter: res.headers.has('retry-after') ? Number(res.headers.get('retry-after')) : null };
      }
      const page = new PageClient(service.baseUrl, headers);
      for (const [name, value] of client.cookies) page.setCookie(name, value);
      const form = await page.get(kind === 'login-page' ? '/login' : '/join/sign-in');
      const res = await page.submit(form, { username: login, password });
      const device = page.cookie('fg_device');
      if (device) client.cookies.set('fg_device', device);
      return { status: res.status, retryAfter: res.headers.has('retry-after') ? Number(res.headers.get('retry-after')) : null };
    };
  }

  /** Spends the account's "any client" allowance: 10 wrong guesses, each from a new address, then refusals. */
  async function guessFromEverywhere(kind: string, login: string, times = 14): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < times; i++) statuses.push((await signInVia(kind, new Client())(login, WRONG)).status);
    return statuses;
  }

  it.each(KINDS)('backs off repeated wrong passwords (%s) with 429 and Retry-After, per account and client', async (kind) => {
    const victim = await signUp(api, service.baseUrl, `throttle${kind.replace(/\W/g, '')}`);
    const attacker = signInVia(kind);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await attacker(victim.username, WRONG)).status);
    expect(statuses.slice(0, 5).every((s) => s === 401)).toBe(true);
    const throttled = await attacker(victim.username, WRONG);
    expect(throttled.status).toBe(429);
    expect(throttled.retryAfter).toBeGreaterThan(0);
    // Even the right password waits: otherwise guessing would go on.
    expect((await attacker(victim.username, PASSWORD)).status).toBe(429);
    // The owner, from their own address, is not locked out.
    expect((await signInVia(kind)(victim.username, PASSWORD)).status).toBeLessThan(400);
  });

  it.each(KINDS)('a stranger guessing from ever new addresses does not keep the owner out of a client that signed in before (%s)', async (kind) => {
    const victim = await signUp(api, service.baseUrl, `device${kind.replace(/\W/g, '')}`);
    const owner = new Client();
    expect((await signInVia(kind, owner)(victim.username, PASSWORD)).status).toBeLessThan(400);
    expect(owner.cookies.get('fg_device')).toBeTruthy();

    // Ten guesses pass, from anywhere; then the account waits, for every client without a device token.
    expect(await guessFromEverywhere(kind, victim.username)).toEqual([...Array(10).fill(401), ...Array(4).fill(429)]);
    const elsewhere = await signInVia(kind)(victim.username, PASSWORD);
    expect(elsewhere.status).toBe(429);

    // The owner's client signs in at once, from its own address or another, while the stranger goes on.
    expect((await signInVia(kind, owner)(victim.username, PASSWORD)).status).toBeLessThan(400);
    expect((await signInVia(kind, new Client())(victim.username, WRONG)).status).toBe(429);
    owner.ip = randomIp();
    expect((await signInVia(kind, owner)(victim.username, PASSWORD)).status).toBeLessThan(400);
    // By its email too: one account, one device token.
    expect((await signInVia(kind, owner)(victim.email.toUpperCase(), PASSWORD)).status).toBeLessThan(400);
  });

  it('a device token counts only for its own account, only as issued, and guesses made with it back off on their own', async () => {
    const [mine, other] = await Promise.all([signUp(api, service.baseUrl, 'devicemine'), signUp(api, service.baseUrl, 'deviceother')]);
    const browser = new Client();
    expect((await signInVia('api', browser)(mine.username, PASSWORD)).status).toBe(200);
    const device = browser.cookies.get('fg_device')!;
    const [, flags] = /^[^;]+;(.*)$/.exec((await fetch(`${service.baseUrl}/auth/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Forwarded-For': randomIp() }, body: JSON.stringify({ username: mine.username, password: PASSWORD }) })).headers.getSetCookie().find((c) => c.startsWith('fg_device='))!)!;
    expect(flags.toLowerCase().split(';').map((f) => f.trim().split('=')[0]).sort()).toEqual(['expires', 'httponly', 'path', 'samesite']);
    expect(flags.toLowerCase()).toContain('samesite=strict');

    // Another account's spent allowance holds for this client too: its token is for "mine" alone.
    await guessFromEverywhere('api', other.username);
    expect((await signInVia('api', browser)(other.username, PASSWORD)).status).toBe(429);
    // A token changed in any way is no token: the account's own allowance, once spent, holds for it.
    await guessFromEverywhere('api', mine.username);
    const forged = TokenSigner.parse(device) as Record<string, unknown>;
    for (const changed of [{ ...forged, sub: other.accountId }, { ...forged, dev: 'another-device' }, { ...forged, exp: Date.now() - 1 }]) {
      const holder = new Client();
      holder.cookies.set('fg_device', TokenSigner.serialize(changed as Record<string, string>));
      expect((await signInVia('api', holder)(mine.username, PASSWORD)).status).toBe(429);
    }
    // Guesses with the genuine token: 5 free, then it waits as well.
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await signInVia('api', browser)(mine.username, WRONG)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('the username and the email of one account share one budget', async () => {
    const victim = await signUp(api, service.baseUrl, 'twonames');
    const attacker = signInVia('api');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await attacker(victim.username, WRONG)).status);
    for (const login of [victim.email, ` ${victim.email.toUpperCase()} `, victim.username.toUpperCase()]) statuses.push((await attacker(login, WRONG)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    // Spread over many addresses, the names share the account's any-client allowance too.
    const spread: number[] = [];
    const other = await signUp(api, service.baseUrl, 'twonamesspread');
    for (let i = 0; i < 12; i++) spread.push((await signInVia('api')(i % 2 ? other.email : other.username, WRONG)).status);
    expect(spread).toEqual([...Array(10).fill(401), 429, 429]);
  });

  it('guesses from many addresses slow the account down, but lock its owner out for at most a minute', async () => {
    const victim = await signUp(api, service.baseUrl, 'spread');
    const answers = [];
    for (let i = 0; i < 14; i++) answers.push(await signInVia('api')(victim.username, WRONG));
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    const owner = await signInVia('api')(victim.username, PASSWORD);
    if (owner.status === 429) expect(owner.retryAfter).toBeLessThanOrEqual(60);
    for (const a of refused) expect(a.retryAfter).toBeLessThanOrEqual(60);
  });

  it('a burst of simultaneous guesses is counted exactly', async () => {
    const victim = await signUp(api, service.baseUrl, 'burstguess');
    const attacker = signInVia('api');
    const answers = await Promise.all(Array.from({ length: 12 }, () => attacker(victim.username, WRONG)));
    expect(answers.filter((a) => a.status === 401)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
  });

  it('unknown usernames are throttled like known ones', async () => {
    const attacker = signInVia('api');
    const name = `nobody-${Math.random().toString(36).slice(2)}`;
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push((await attacker(name, WRONG)).status);
    expect(answers).toEqual([401, 401, 401, 401, 401, 429]);
  });
});
