// An invitation's life as its users see it: the emailed link lives as long
// as the invitation, a team admin can send it again, an account invited by
// id can stop the notices, the statistics answer Synapse's questions, and
// Synapse's phase 1 (a 403 alone on an email mismatch) is a setting.
import type { WorkflowHandle } from '@temporalio/client';
import { TokenSigner } from '../../src/shared/tokens';
import { invitationWorkflowId } from '../../src/workflows/invitation/messages';
import { serviceFor, startService, TestService } from '../support/service';
import { emailsTo, linkIn, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';
import { PageClient } from '../support/pageClient';
import { Api, apiClient, PASSWORD, signUp, tokenInLink } from './helpers';

const CLIENT_UNSUBSCRIBE = 'https://app.example.test/#!Unsubscribe:';
const DAY = 86_400_000;

let service: TestService;
let api: Api;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  service = await startService({ NOTIFICATION_UNSUBSCRIBE_ENDPOINTS: CLIENT_UNSUBSCRIBE });
  api = apiClient(service.baseUrl);
  admin = await signUp(api, service.baseUrl, 'life-admin');
});
afterAll(() => service?.stop());

async function newTeam(token = admin.accessToken): Promise<string> {
  const team = await api('POST', '/repo/v1/team', { name: `Team ${Math.random().toString(36).slice(2, 6)}` }, token);
  expect(team.status).toBe(201);
  return team.body.id;
}

const invitationLinkPrefix = () => `${service.baseUrl}/join/invitation/`;
const tokenOf = (link: string) => TokenSigner.parse(tokenInLink(link, invitationLinkPrefix())) as Record<string, string>;

/** The activities an invitation's workflow has completed (recordInvitation, then its mail). */
async function activitiesCompleted(handle: WorkflowHandle): Promise<number> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).length;
}

describe('the emailed invitation link', () => {
  it('lives as long as the invitation; one without expiresOn ends INVITATION_MAX_LIFETIME (365 days) after creation', async () => {
    const teamId = await newTeam();
    const open = uniqueEmail('open-ended');
    const before = Date.now();
    const created = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail: open }, admin.accessToken);
    expect(created.status).toBe(201);
    const ends = Date.parse(created.body.expiresOn);
    expect(ends).toBeGreaterThanOrEqual(before + 365 * DAY);
    expect(ends).toBeLessThanOrEqual(Date.now() + 365 * DAY);
    const link = linkIn(await waitForEmail(open, /You are invited/), invitationLinkPrefix());
    expect(tokenOf(link).expiresOn).toBe(created.body.expiresOn);

    // Past day 30, the link still opens: it ends with its invitation, on day 90.
    const later = uniqueEmail('ninety-days');
    const expiresOn = new Date(Date.now() + 90 * DAY).toISOString();
    const second = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail: later, expiresOn }, admin.accessToken);
    const mail = await waitForEmail(later, /You are invited/);
    expect(tokenOf(linkIn(mail, invitationLinkPrefix())).expiresOn).toBe(second.body.expiresOn);
    expect(mail.text).toContain(`This link works until ${expiresOn.slice(0, 10)}`);
  });

  it('a link that lapsed while its invitation stays open points to a resend', async () => {
    const teamId = await newTeam();
    const email = uniqueEmail('lapsed-link');
    const created = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail: email }, admin.accessToken);
    const token = tokenOf(linkIn(await waitForEmail(email, /You are invited/), invitationLinkPrefix()));
    // As links were signed before they lived as long as their invitation: 30 days from creation.
    const old = service.deps.signer.sign('MembershipInvtnSignedToken', { ...token, expiresOn: new Date(Date.now() - 1000).toISOString() });
    const page = await fetch(`${service.baseUrl}/join/invitation/${TokenSigner.serialize(old)}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('Ask the team admin to send the invitation again.');
    expect(created.body.id).toBe(token.membershipInvitationId);
  });
});

describe('resending an invitation', () => {
  it('mails a fresh link on a team admin\'s request, keeps the earlier ones working, and allows three a day', async () => {
    const teamId = await newTeam();
    const email = uniqueEmail('resent');
    const created = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail: email }, admin.accessToken);
    const first = linkIn(await waitForEmail(email, /You are invited/), invitationLinkPrefix());
    const resend = (token = admin.accessToken) => api('POST', `/repo/v1/membershipInvitation/${created.body.id}/resend`, undefined, token);

    const stranger = await signUp(api, service.baseUrl, 'resend-stranger');
    expect((await resend(stranger.accessToken)).status).toBe(403);
    expect((await api('POST', '/repo/v1/membershipInvitation/999999/resend', undefined, admin.accessToken)).status).toBe(404);

    const again = await resend();
    expect(again).toEqual({ status: 200, body: created.body });
    const mails = await waitForEmails(email, /You are invited/, 2);
    const second = linkIn(mails[1], invitationLinkPrefix());
    expect(second).not.toBe(first);
    expect(Date.parse(tokenOf(second).createdOn)).toBeGreaterThan(Date.parse(tokenOf(first).createdOn));
    expect(tokenOf(second).expiresOn).toBe(created.body.expiresOn);
    for (const link of [first, second]) expect((await fetch(link)).status).toBe(200);

    expect((await resend()).status).toBe(200);
    expect((await resend()).status).toBe(200);
    const refused = await fetch(`${service.baseUrl}/repo/v1/membershipInvitation/${created.body.id}/resend`, { method: 'POST', headers: { Authorization: `Bearer ${admin.accessToken}` } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('3600');
    expect(await refused.json()).toMatchObject({ code: 'limit_reached' });
    expect(await waitForEmails(email, /You are invited/, 4)).toHaveLength(4);

    // A withdrawn invitation is not sent again.
    expect((await api('DELETE', `/repo/v1/membershipInvitation/${created.body.id}`, undefined, admin.accessToken)).status).toBe(204);
    expect((await resend()).status).toBe(410);
  });
});

describe('invitation notices to accounts', () => {
  it('carry an unsubscribe link and List-Unsubscribe headers; after a one-click unsubscribe no notice is sent', async () => {
    const member = await signUp(api, service.baseUrl, 'noticed');
    const invited = await api('POST', '/repo/v1/membershipInvitation', { teamId: await newTeam(), inviteeId: member.accountId }, admin.accessToken);
    expect(invited.status).toBe(201);
    const notice = await waitForEmail(member.email, /You are invited/);
    const link = linkIn(notice, `${service.baseUrl}/join/unsubscribe/`);
    expect(notice.headers['list-unsubscribe']).toBe(`<${link}>`);
    expect(notice.headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');

    // Opening the link only asks; a mail client's one-click POST (no cookie, no form token) unsubscribes.
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Stop these notices');
    expect(await service.db.notificationOptOut.count({ where: { accountId: member.accountId } })).toBe(0);
    const forged = await fetch(link.slice(0, -4) + 'AAAA', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    const noToken = await fetch(link, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'confirm=yes' });
    expect(noToken.status).toBe(403);
    const oneClick = await fetch(link, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(oneClick.status).toBe(200);
    expect(await oneClick.text()).toContain('No more invitation notices');
    expect(await service.db.notificationOptOut.count({ where: { accountId: member.accountId } })).toBe(1);

    // The next invitation is recorded and shows on the teams page, without a notice.
    const teamId = await newTeam();
    const next = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeId: member.accountId }, admin.accessToken);
    expect(next.status).toBe(201);
    const handle = service.temporal.workflow.getHandle(invitationWorkflowId(Number(next.body.id)));
    for (const deadline = Date.now() + 20_000; (await activitiesCompleted(handle)) < 2; ) {
      if (Date.now() > deadline) throw new Error('the notice step did not run');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await emailsTo(member.email, /You are invited/)).toHaveLength(1);
    // Nor does a resend mail it.
    const resent = await api('POST', `/repo/v1/membershipInvitation/${next.body.id}/resend`, undefined, admin.accessToken);
    expect(resent).toEqual({ status: 200, body: next.body });
    expect(await activitiesCompleted(handle)).toBe(3);
    expect(await emailsTo(member.email, /You are invited/)).toHaveLength(1);
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${member.accountId}`, undefined, member.accessToken)).status).toBe(204);
  });

  it('build the link from notificationUnsubscribeEndpoint, whose page redeems the token through the API; other endpoints are refused', async () => {
    const member = await signUp(api, service.baseUrl, 'client-noticed');
    const teamId = await newTeam();
    const post = (endpoint: string) =>
      api('POST', `/repo/v1/membershipInvitation?notificationUnsubscribeEndpoint=${encodeURIComponent(endpoint)}`, { teamId, inviteeId: member.accountId }, admin.accessToken);
    for (const hostile of ['https://evil.example/#!Unsubscribe:', `${CLIENT_UNSUBSCRIBE}\nhttps://evil.example/`, 'javascript:alert(1)//']) expect((await post(hostile)).status).toBe(400);
    expect((await post(CLIENT_UNSUBSCRIBE)).status).toBe(201);
    const notice = await waitForEmail(member.email, /You are invited/);
    const link = linkIn(notice, CLIENT_UNSUBSCRIBE);
    expect(notice.headers['list-unsubscribe']).toBe(`<${link}>`);
    // One click goes only to a page known to take it.
    expect(notice.headers['list-unsubscribe-post']).toBeUndefined();

    const token = TokenSigner.parse(link.slice(CLIENT_UNSUBSCRIBE.length)) as Record<string, string>;
    expect(token.accountId).toBe(String(member.accountId));
    expect((await api('POST', '/repo/v1/notificationUnsubscribe', { ...token, accountId: String(admin.accountId) })).status).toBe(403);
    expect(await service.db.notificationOptOut.count({ where: { accountId: admin.accountId } })).toBe(0);
    expect((await api('POST', '/repo/v1/notificationUnsubscribe', token)).status).toBe(204);
    expect((await api('POST', '/repo/v1/notificationUnsubscribe', token)).status).toBe(204);
    expect(await service.db.notificationOptOut.count({ where: { accountId: member.accountId } })).toBe(1);
  });
});

describe('invitation statistics', () => {
  it('answer per team and per inviter: created, new or existing account, registrations started, 403 refusals, joined and when', async () => {
    const teamId = await newTeam();
    const second = await signUp(api, service.baseUrl, 'second-admin');
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${second.accountId}`, undefined, admin.accessToken)).status).toBe(204);
    await service.db.teamMember.update({ where: { teamId_accountId: { teamId: Number(teamId), accountId: second.accountId } }, data: { isAdmin: true } });

    // The first admin's invitee registers a new account from the invitation and joins.
    const newcomerEmail = uniqueEmail('stat-new');
    await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail: newcomerEmail }, admin.accessToken);
    const serialized = tokenInLink(linkIn(await waitForEmail(newcomerEmail, /You are invited/), invitationLinkPrefix()), invitationLinkPrefix());
    const newcomer = await signUp(api, service.baseUrl, 'stat-new', { email: newcomerEmail, encodedMembershipInvtnSignedToken: serialized });
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${newcomer.accountId}`, undefined, newcomer.accessToken)).status).toBe(204);

    // The second admin's invitee has an account: someone else is refused first (403), then the invitee verifies and joins.
    const existing = await signUp(api, service.baseUrl, 'stat-existing');
    const byOther = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail: existing.email }, second.accessToken);
    const otherLink = tokenInLink(linkIn(await waitForEmail(existing.email, /You are invited/), invitationLinkPrefix()), invitationLinkPrefix());
    const verify = (token: string, headers: Record<string, string> = {}) => api('GET', `/repo/v1/membershipInvitation/${byOther.body.id}/inviteeVerificationSignedToken`, undefined, token, headers);
    expect((await verify(newcomer.accessToken, { 'X-Invitation-Token': otherLink })).status).toBe(403);
    const verified = await verify(existing.accessToken);
    expect((await api('PUT', `/repo/v1/membershipInvitation/${byOther.body.id}/inviteeId`, verified.body, existing.accessToken)).status).toBe(200);
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${existing.accountId}`, undefined, existing.accessToken)).status).toBe(204);

    // And one that is still open.
    const pending = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail: uniqueEmail('stat-open') }, admin.accessToken);

    const stats = await api('GET', `/repo/v1/membershipInvitation/statistics?teamId=${teamId}`, undefined, second.accessToken);
    expect(stats.status).toBe(200);
    const none = { boundViaNewAccount: 0, boundViaExistingAccount: 0, emailValidationRequests: 0, verificationRefused: 0, joined: 0, expired: 0, revoked: 0 };
    expect(stats.body).toMatchObject({
      teamId,
      created: 3,
      boundViaNewAccount: 1,
      boundViaExistingAccount: 1,
      emailValidationRequests: 1,
      verificationRefused: 1,
      joined: 2,
      expired: 0,
      revoked: 0,
      byInviter: [
        { inviterId: String(admin.accountId), ...none, created: 2, boundViaNewAccount: 1, emailValidationRequests: 1, joined: 1 },
        { inviterId: String(second.accountId), ...none, created: 1, boundViaExistingAccount: 1, verificationRefused: 1, joined: 1 },
      ],
    });
    const byId = Object.fromEntries((stats.body.invitations as Array<Record<string, string>>).map((i) => [i.id, i]));
    expect(Object.keys(byId)).toHaveLength(3);
    expect(byId[byOther.body.id]).toMatchObject({ createdBy: String(second.accountId), inviteeId: String(existing.accountId), boundVia: 'existing_account' });
    expect(Date.parse(byId[byOther.body.id].joinedOn)).toBeGreaterThanOrEqual(Date.parse(byId[byOther.body.id].createdOn));
    expect(byId[pending.body.id].joinedOn).toBeUndefined();
    expect(Object.values(byId).filter((i) => i.boundVia === 'new_account' && i.joinedOn)).toHaveLength(1);
    // The invitation itself tells when it was accepted.
    const retrieved = await api('POST', `/repo/v1/membershipInvitation/${byOther.body.id}`, TokenSigner.parse(otherLink));
    expect(retrieved.body.joinedOn).toBe(byId[byOther.body.id].joinedOn);
  });
});

describe("Synapse's phase 1 (INVITEE_VERIFICATION_PHASE=1)", () => {
  const phase1Service = serviceFor({ INVITEE_VERIFICATION_PHASE: '1' });

  it('answers an email mismatch with the 403 alone: no mail to the invited address, the refusal counted', async () => {
    const phase1 = phase1Service();
    const api1 = apiClient(phase1.baseUrl);
    const owner = await signUp(api1, phase1.baseUrl, 'phase1-admin');
    const team = await api1('POST', '/repo/v1/team', { name: 'Phase one' }, owner.accessToken);
    const inviteeEmail = uniqueEmail('phase1-invitee');
    const created = await api1('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail }, owner.accessToken);
    const prefix = `${phase1.baseUrl}/join/invitation/`;
    const serialized = tokenInLink(linkIn(await waitForEmail(inviteeEmail, /You are invited/), prefix), prefix);
    const other = await signUp(api1, phase1.baseUrl, 'phase1-other');
    const answer = await api1('GET', `/repo/v1/membershipInvitation/${created.body.id}/inviteeVerificationSignedToken`, undefined, other.accessToken, { 'X-Invitation-Token': serialized });
    expect(answer).toEqual({ status: 403, body: { reason: 'The signed-in account does not have the invited email address.', verificationEmailSent: false } });
    const stats = await api1('GET', `/repo/v1/membershipInvitation/statistics?teamId=${team.body.id}`, undefined, owner.accessToken);
    expect(stats.body.verificationRefused).toBe(1);
    // The invitation page's sign-in says the same, and sends nothing either.
    const browser = new PageClient(phase1.baseUrl);
    const refused = await browser.submit(await browser.get(`/join/invitation/${serialized}/sign-in`), { username: other.username, password: PASSWORD });
    expect(refused.status).toBe(403);
    expect(refused.h1).toBe('Confirm it is you');
    expect(refused.text).toContain('Sign in with the account of that address');
    // The answers come once the mail step would have run: nothing was mailed.
    expect(await emailsTo(inviteeEmail, /Confirm your invitation/)).toHaveLength(0);
  });
});
