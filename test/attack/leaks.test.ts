// What an answer, a log line or a number may reveal to someone who should not
// learn it: whether an address has an account, the state of another team's
// invitation, a link's secret, the server's internals.
import { Client as PgClient } from 'pg';
import { TokenSigner } from '../../src/shared/tokens';
import { serviceFor, startService, TestService } from '../support/service';
import { createIsolatedEnvironment } from '../support/isolatedDb';
import { emailsTo, linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { apiClient, Api, PASSWORD, signUp, tokenInLink } from '../invitations/helpers';
import { PageClient } from '../support/pageClient';

const SERVICE_TOKEN = 'trial-service-token-0123456789abcdef0123';

let service: TestService;
let api: Api;

beforeAll(async () => {
  service = await startService({ TRIAL_SERVICE_TOKEN: SERVICE_TOKEN });
  api = apiClient(service.baseUrl);
});
afterAll(() => service?.stop());

describe('whether an address has an account', () => {
  it('emailValidation answers known and unknown addresses alike, and mails the owner instead', async () => {
    const owner = await signUp(api, service.baseUrl, 'leakowner');
    const unknown = uniqueEmail('leakunknown');
    const known = await api('POST', '/repo/v1/account/emailValidation', { email: owner.email, firstName: 'L', lastName: 'O' });
    const stranger = await api('POST', '/repo/v1/account/emailValidation', { email: unknown, firstName: 'L', lastName: 'O' });
    expect(known).toEqual(stranger);
    expect(stranger.status).toBe(201);
    const notice = await waitForEmail(owner.email, /already have an account/);
    expect(notice.text).not.toMatch(/\/join\/account\//);
    expect(notice.text).toContain(`${service.baseUrl}/join/sign-in`);
    await waitForEmail(unknown, /Welcome/);
  });

  it('the trial service endpoints ask for the service credential, and answer known and unknown usernames alike without it', async () => {
    const email = uniqueEmail('leaktrial');
    expect((await api('POST', '/api/trial/register', { username: email })).status).toBe(202);
    const token = new URL(linkIn(await waitForEmail(email, /Verify/), `${service.baseUrl}/trial/register?token=`)).searchParams.get('token')!;
    const service_ = { 'X-Service-Token': SERVICE_TOKEN };
    const wrong = { 'X-Service-Token': 'x'.repeat(40) };
    const unknown = uniqueEmail('leaktrialunknown');
    for (const headers of [{}, wrong]) {
      const a = await api('GET', `/api/trial/infos?username=${encodeURIComponent(email)}`, undefined, undefined, headers);
      const b = await api('GET', `/api/trial/infos?username=${encodeURIComponent(unknown)}`, undefined, undefined, headers);
      expect(a).toEqual(b);
      expect([401, 403]).toContain(a.status);
      expect((await api('POST', '/api/trial/verify', { token }, undefined, headers)).status).toBe(a.status);
      expect((await api('POST', '/api/trial/creation', { token, password: PASSWORD }, undefined, headers)).status).toBe(a.status);
      expect((await api('POST', '/api/trial/embed-token', { username: email, appId: 1 }, undefined, headers)).status).toBe(a.status);
    }
    expect((await api('GET', `/api/trial/infos?username=${encodeURIComponent(email)}`, undefined, undefined, service_)).status).toBe(200);
    expect((await api('POST', '/api/trial/verify', { token }, undefined, service_)).status).toBe(200);
  });
});

describe('the trial service endpoints without TRIAL_SERVICE_TOKEN', () => {
  // Open only on a development machine and in the test suite: a deployment that is not "production" by name is still a deployment.
  const deployed = {
    staging: serviceFor({ NODE_ENV: 'staging' }),
    production: serviceFor({ NODE_ENV: 'production' }),
  };

  it.each(Object.keys(deployed) as (keyof typeof deployed)[])('refuse every call with NODE_ENV=%s, known and unknown usernames alike', async (nodeEnv) => {
    const svc = deployed[nodeEnv]();
    expect(svc.config.trialServiceToken).toBeUndefined();
    const email = uniqueEmail(`unset${nodeEnv}`);
    expect((await api('POST', '/api/trial/register', { username: email })).status).toBe(202);
    await waitForEmail(email, /Verify/);
    // The trial exists: the credentialed service finds it.
    expect((await api('GET', `/api/trial/infos?username=${encodeURIComponent(email)}`, undefined, undefined, { 'X-Service-Token': SERVICE_TOKEN })).status).toBe(200);
    const deployedApi = apiClient(svc.baseUrl);
    const known = await deployedApi('GET', `/api/trial/infos?username=${encodeURIComponent(email)}`);
    const unknown = await deployedApi('GET', `/api/trial/infos?username=${encodeURIComponent(uniqueEmail('unsetunknown'))}`);
    expect(known).toEqual({ status: 403, body: expect.objectContaining({ code: 'service_disabled' }) });
    expect(unknown).toEqual(known);
    expect((await deployedApi('POST', '/api/trial/verify', { token: 'x' })).status).toBe(403);
  });
});

describe("other teams' invitations", () => {
  it('a stranger asking for an invitee verification token learns nothing, mails nobody and counts nowhere', async () => {
    const admin = await signUp(api, service.baseUrl, 'pokeadmin');
    const stranger = await signUp(api, service.baseUrl, 'poker');
    const team = await api('POST', '/repo/v1/team', { name: 'Poked team' }, admin.accessToken);
    const invite = async () => {
      const email = uniqueEmail('poked');
      const created = await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: email }, admin.accessToken);
      expect(created.status).toBe(201);
      await waitForEmail(email, /invited/);
      return { id: created.body.id as string, email };
    };
    const open = await invite();
    const revoked = await invite();
    expect((await api('DELETE', `/repo/v1/membershipInvitation/${revoked.id}`, undefined, admin.accessToken)).status).toBe(204);
    const ask = (id: string) => api('GET', `/repo/v1/membershipInvitation/${id}/inviteeVerificationSignedToken`, undefined, stranger.accessToken);
    const answers = await Promise.all([ask(open.id), ask(revoked.id), ask('999999'), ask(open.id)]);
    for (const a of answers) expect(a).toEqual(answers[0]);
    expect(answers[0].status).toBe(403);
    const stats = await api('GET', `/repo/v1/membershipInvitation/statistics?teamId=${team.body.id}`, undefined, admin.accessToken);
    expect(stats.body.verificationRefused).toBe(0);
    expect(await emailsTo(open.email, /Confirm your invitation/)).toHaveLength(0);
  });

  it('the holder of the emailed link, signed in with another address, still gets the verification mail', async () => {
    const admin = await signUp(api, service.baseUrl, 'holderadmin');
    const holder = await signUp(api, service.baseUrl, 'holder');
    const team = await api('POST', '/repo/v1/team', { name: 'Holder team' }, admin.accessToken);
    const invitedAddress = uniqueEmail('holderinvited');
    const created = await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: invitedAddress }, admin.accessToken);
    const prefix = `${service.baseUrl}/join/invitation/`;
    const serialized = tokenInLink(linkIn(await waitForEmail(invitedAddress, /invited/), prefix), prefix);
    const answer = await api('GET', `/repo/v1/membershipInvitation/${created.body.id}/inviteeVerificationSignedToken`, undefined, holder.accessToken, { 'X-Invitation-Token': serialized });
    expect(answer.status).toBe(403);
    expect(answer.body.verificationEmailSent).toBe(true);
    await waitForEmail(invitedAddress, /Confirm your invitation/);
  });
});

describe("other teams' members", () => {
  it('only members see who is in a team; an invitee sees the team alone; strangers and anonymous callers see neither', async () => {
    const admin = await signUp(api, service.baseUrl, 'rosteradmin');
    const stranger = await signUp(api, service.baseUrl, 'rosterstranger');
    const invitee = await signUp(api, service.baseUrl, 'rosterinvitee');
    const team = await api('POST', '/repo/v1/team', { name: 'Roster team' }, admin.accessToken);
    expect((await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeId: invitee.accountId }, admin.accessToken)).status).toBe(201);
    await waitForEmail(invitee.email, /invited/);
    const roster = `/repo/v1/teamMembers/${team.body.id}`;
    const teamPath = `/repo/v1/team/${team.body.id}`;

    for (const path of [roster, teamPath]) expect({ path, status: (await api('GET', path)).status }).toEqual({ path, status: 401 });
    expect(await api('GET', roster, undefined, stranger.accessToken)).toEqual({ status: 403, body: { reason: "Only the team's members may see who is in it." } });
    expect((await api('GET', teamPath, undefined, stranger.accessToken)).status).toBe(403);
    expect((await api('GET', roster, undefined, invitee.accessToken)).status).toBe(403);
    expect(await api('GET', teamPath, undefined, invitee.accessToken)).toEqual({ status: 200, body: expect.objectContaining({ name: 'Roster team' }) });
    const members = await api('GET', roster, undefined, admin.accessToken);
    expect(members.body.results.map((r: { member: { userName: string } }) => r.member.userName)).toEqual([admin.username]);

    // The team page: the same rule.
    const page = async (accessToken: string) => {
      const browser = new PageClient(service.baseUrl);
      browser.setCookie('fg_session', accessToken);
      return browser.get(`/join/team/${team.body.id}`);
    };
    const strangerPage = await page(stranger.accessToken);
    expect({ status: strangerPage.status, leaks: strangerPage.text.includes('Roster team') || strangerPage.text.includes(admin.username) }).toEqual({ status: 403, leaks: false });
    const inviteePage = await page(invitee.accessToken);
    expect({ status: inviteePage.status, title: inviteePage.h1, roster: inviteePage.text.includes(admin.username) }).toEqual({ status: 200, title: 'Roster team', roster: false });
    const adminPage = await page(admin.accessToken);
    expect(adminPage.text).toContain(admin.username);
  });
});

describe('numbers out of range', () => {
  it('answers 400, never 500, for ids with hundreds of digits', async () => {
    const admin = await signUp(api, service.baseUrl, 'bigadmin');
    const huge = '9'.repeat(300);
    const team = await api('POST', '/repo/v1/team', { name: 'Big numbers' }, admin.accessToken);
    const answers = await Promise.all([
      api('POST', '/repo/v1/membershipInvitation', { teamId: huge, inviteeEmail: uniqueEmail('big') }, admin.accessToken),
      api('POST', '/repo/v1/membershipInvitation', { teamId: Number(huge), inviteeEmail: uniqueEmail('big') }, admin.accessToken),
      api('POST', '/repo/v1/membershipInvitation', { teamId: '1', inviteeId: huge }, admin.accessToken),
      api('POST', '/repo/v1/membershipInvitation', { teamId: 2 ** 31, inviteeId: 1 }, admin.accessToken),
      api('GET', `/repo/v1/membershipInvitation/statistics?teamId=${huge}`, undefined, admin.accessToken),
      api('POST', '/api/trial/embed-token', { username: admin.email, appId: huge }, admin.accessToken, { 'X-Service-Token': SERVICE_TOKEN }),
      api('POST', '/api/trial/embed-token', { username: admin.email, appId: 2 ** 31 }, admin.accessToken, { 'X-Service-Token': SERVICE_TOKEN }),
      // Dates are numbers too: an invitation cannot be made to outlive the configured maximum.
      api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: uniqueEmail('big'), expiresOn: '9999-12-31T00:00:00Z' }, admin.accessToken),
    ]);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 400));
  });
});

describe('link secrets in logs', () => {
  it('a failed request logs its route template, never the path that carries the token', async () => {
    const isolated = await createIsolatedEnvironment('attack_logs');
    const broken = await startService(isolated);
    const kept = (globalThis as { __flowgateLogLines?: string[] }).__flowgateLogLines!;
    try {
      const token = TokenSigner.serialize(broken.deps.signer.sign('MembershipInvtnSignedToken', { membershipInvitationId: '1', expiresOn: new Date(Date.now() + 3600_000).toISOString(), createdOn: new Date().toISOString() }));
      // The database goes away under the running service: the next page view fails on our side.
      const admin = new PgClient({ connectionString: process.env.DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE "${new URL(isolated.DATABASE_URL).pathname.slice(1)}" WITH (FORCE)`);
      await admin.end();
      const res = await fetch(`${broken.baseUrl}/join/invitation/${token}`);
      expect(res.status).toBe(500);
      const lines = kept.filter((l) => l.includes('request failed'));
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).toContain('/join/invitation/:token');
      expect(kept.join('\n')).not.toContain(token);
    } finally {
      await broken.stop().catch(() => undefined);
    }
  });
});
