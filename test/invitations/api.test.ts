import { TokenSigner } from '../../src/shared/tokens';
import { invitationStateQuery, invitationWorkflowId } from '../../src/workflows/invitation/messages';
import { FlowKind, FlowStep, TeamId, Email } from '../../src/shared/searchAttributes';
import { startService, TestService } from '../support/service';
import { emailsTo, linkIn, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';
import { Api, apiClient, PASSWORD, signUp, tokenInLink } from './helpers';

let service: TestService;
let api: Api;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  service = await startService();
  api = apiClient(service.baseUrl);
  admin = await signUp(api, service.baseUrl, 'admin');
});
afterAll(() => service?.stop());

async function newTeam(name = 'Synapse team'): Promise<string> {
  const team = await api('POST', '/repo/v1/team', { name }, admin.accessToken);
  expect(team.status).toBe(201);
  return team.body.id;
}

/** Invites by email and returns the invitation and the token from the real invitation mail. */
async function inviteByEmail(teamId: string, inviteeEmail: string, extra: Record<string, unknown> = {}) {
  const created = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeEmail, ...extra }, admin.accessToken);
  expect(created.status).toBe(201);
  const mail = await waitForEmail(inviteeEmail, /You are invited to join/);
  const prefix = `${service.baseUrl}/join/invitation/`;
  const serialized = tokenInLink(linkIn(mail, prefix), prefix);
  return { invitation: created.body, serialized, token: TokenSigner.parse(serialized) as Record<string, string>, mail };
}

async function statistics(teamId: string) {
  const stats = await api('GET', `/repo/v1/membershipInvitation/statistics?teamId=${teamId}`, undefined, admin.accessToken);
  expect(stats.status).toBe(200);
  return stats.body;
}

describe('team membership invitation over HTTP', () => {
  it('new account: invite by email, follow the mail, register with the invitation, join', async () => {
    const teamId = await newTeam();
    const inviteeEmail = uniqueEmail('newbie');
    const { invitation, serialized, token, mail } = await inviteByEmail(teamId, inviteeEmail, { message: 'Welcome aboard' });
    expect(invitation).toMatchObject({ teamId, inviteeEmail, message: 'Welcome aboard', createdBy: String(admin.accountId) });
    expect(mail.text).toContain('Welcome aboard');
    expect(Object.keys(token).sort()).toEqual(['createdOn', 'expiresOn', 'hmac', 'membershipInvitationId']);

    const retrieved = await api('POST', `/repo/v1/membershipInvitation/${invitation.id}`, token);
    expect(retrieved.status).toBe(200);
    expect(retrieved.body).toEqual(invitation);

    const invitee = await signUp(api, service.baseUrl, 'newbie', { email: inviteeEmail, encodedMembershipInvtnSignedToken: serialized });
    expect(invitee.envelope.encodedMembershipInvtnSignedToken).toBe(serialized);

    const open = await api('GET', `/repo/v1/team/${teamId}/openInvitation`, undefined, admin.accessToken);
    expect(open.body.results).toEqual([expect.objectContaining({ id: invitation.id, inviteeId: String(invitee.accountId) })]);

    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${invitee.accountId}`, undefined, invitee.accessToken)).status).toBe(204);
    const members = await api('GET', `/repo/v1/teamMembers/${teamId}`, undefined, invitee.accessToken);
    expect(members.body.results.map((m: { member: { ownerId: string } }) => m.member.ownerId)).toContain(String(invitee.accountId));

    const handle = service.temporal.workflow.getHandle(invitationWorkflowId(Number(invitation.id)));
    expect(await handle.result()).toBe('joined');
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(FlowKind)).toBe('membership-invitation');
    expect(description.typedSearchAttributes.get(FlowStep)).toBe('joined');
    expect(description.typedSearchAttributes.get(TeamId)).toBe(teamId);
    expect(description.typedSearchAttributes.get(Email)).toBe(inviteeEmail);
    expect(await statistics(teamId)).toMatchObject({ created: 1, boundViaNewAccount: 1, boundViaExistingAccount: 0, joined: 1 });

    // A used link says so; joining again changes nothing.
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${invitee.accountId}`, undefined, invitee.accessToken)).status).toBe(204);
    const page = await fetch(`${service.baseUrl}/join/invitation/${serialized}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('already been used');
  });

  it('existing account: sign in, get the verification token, bind, join', async () => {
    const teamId = await newTeam();
    const member = await signUp(api, service.baseUrl, 'member');
    const { invitation, token } = await inviteByEmail(teamId, member.email.toUpperCase().replace('@EXAMPLE.TEST', '@example.test'));
    expect(invitation.inviteeEmail).toBe(member.email);
    expect((await api('POST', `/repo/v1/membershipInvitation/${invitation.id}`, token)).status).toBe(200);

    const login = await api('POST', '/auth/v1/login', { username: member.username, password: PASSWORD });
    expect(login.status).toBe(200);
    const verification = await api('GET', `/repo/v1/membershipInvitation/${invitation.id}/inviteeVerificationSignedToken`, undefined, login.body.accessToken);
    expect(verification.status).toBe(200);
    expect(verification.body).toMatchObject({ inviteeId: String(member.accountId), membershipInvitationId: invitation.id });

    const bound = await api('PUT', `/repo/v1/membershipInvitation/${invitation.id}/inviteeId`, verification.body, login.body.accessToken);
    expect(bound.status).toBe(200);
    expect(bound.body.inviteeId).toBe(String(member.accountId));
    const state = await service.temporal.workflow.getHandle(invitationWorkflowId(Number(invitation.id))).query(invitationStateQuery);
    expect(state).toMatchObject({ step: 'awaiting_join', boundVia: 'existing_account' });

    // The same binding sent again (a retry after a lost answer) gets the first answer; bound once is bound for good.
    const again = await api('PUT', `/repo/v1/membershipInvitation/${invitation.id}/inviteeId`, verification.body, login.body.accessToken);
    expect(again).toEqual(bound);
    expect((await api('GET', `/repo/v1/membershipInvitation/${invitation.id}/inviteeVerificationSignedToken`, undefined, login.body.accessToken)).status).toBe(400);

    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${member.accountId}`, undefined, member.accessToken)).status).toBe(204);
    expect(await statistics(teamId)).toMatchObject({ created: 1, boundViaNewAccount: 0, boundViaExistingAccount: 1, joined: 1 });
  });

  it('invites an existing account by id with a notification, and the invitee joins in one call', async () => {
    const teamId = await newTeam();
    const member = await signUp(api, service.baseUrl, 'byid');
    const created = await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeId: member.accountId }, admin.accessToken);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ inviteeId: String(member.accountId) });
    const notice = await waitForEmail(member.email, /You are invited to join/);
    expect(linkIn(notice, `${service.baseUrl}/join/team/${teamId}`)).toBeTruthy();
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${member.accountId}`, undefined, member.accessToken)).status).toBe(204);
    expect((await api('POST', '/repo/v1/membershipInvitation', { teamId, inviteeId: member.accountId }, admin.accessToken)).status).toBe(409);
  });

  it('refuses bad invitation requests', async () => {
    const teamId = await newTeam();
    const outsider = await signUp(api, service.baseUrl, 'outsider');
    const post = (body: unknown, token = admin.accessToken, query = '') => api('POST', `/repo/v1/membershipInvitation${query}`, body, token);
    expect((await post({ teamId })).status).toBe(400);
    expect((await post({ teamId, inviteeId: outsider.accountId, inviteeEmail: 'x@example.test' })).body.reason).toMatch(/Exactly one of inviteeId and inviteeEmail/);
    expect((await post({ teamId, inviteeEmail: 'not-an-email' })).status).toBe(400);
    expect((await post({ teamId, inviteeEmail: 'x@example.test', expiresOn: new Date(Date.now() - 1000).toISOString() })).status).toBe(400);
    expect((await post({ teamId, inviteeEmail: 'x@example.test' }, outsider.accessToken)).status).toBe(403);
    expect((await post({ teamId, inviteeEmail: 'x@example.test' }, '')).status).toBe(401);
    expect((await post({ teamId: '999999', inviteeEmail: 'x@example.test' })).status).toBe(404);
    const evil = await post({ teamId, inviteeEmail: 'x@example.test' }, admin.accessToken, '?acceptInvitationEndpoint=' + encodeURIComponent('https://evil.example/?t='));
    expect(evil.status).toBe(400);
    expect(evil.body.reason).toMatch(/acceptInvitationEndpoint must be one of/);
    expect((await post({ teamId, inviteeEmail: 'x@example.test' }, admin.accessToken, '?acceptInvitationEndpoint=javascript:alert(1)')).status).toBe(400);
    // Not an admin: no listing, no statistics.
    expect((await api('GET', `/repo/v1/team/${teamId}/openInvitation`, undefined, outsider.accessToken)).status).toBe(403);
    expect((await api('GET', `/repo/v1/membershipInvitation/statistics?teamId=${teamId}`, undefined, outsider.accessToken)).status).toBe(403);
    // No invitation, no membership.
    const join = await api('PUT', `/repo/v1/team/${teamId}/member/${outsider.accountId}`, undefined, outsider.accessToken);
    expect(join).toEqual({ status: 403, body: { reason: 'An invitation is required to join the team.', code: 'invitation_required' } });
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${admin.accountId}`, undefined, outsider.accessToken)).status).toBe(403);
  });

  it('refuses tampered, expired and misdirected invitation tokens', async () => {
    const teamId = await newTeam();
    const first = await inviteByEmail(teamId, uniqueEmail('tok1'));
    const second = await inviteByEmail(teamId, uniqueEmail('tok2'));
    const retrieve = (id: string, body: unknown) => api('POST', `/repo/v1/membershipInvitation/${id}`, body);
    expect((await retrieve(first.invitation.id, { ...first.token, expiresOn: new Date(Date.now() + 1e12).toISOString() })).status).toBe(403);
    expect((await retrieve(first.invitation.id, { ...first.token, hmac: second.token.hmac })).status).toBe(403);
    // A valid token for another invitation (Synapse does not compare these; we do).
    const crossed = await retrieve(first.invitation.id, second.token);
    expect(crossed.status).toBe(403);
    expect(crossed.body.reason).toMatch(/another invitation/);
    const expired = service.deps.signer.sign('MembershipInvtnSignedToken', { ...first.token, expiresOn: new Date(Date.now() - 1000).toISOString() });
    expect((await retrieve(first.invitation.id, expired)).status).toBe(403);
    expect((await retrieve(first.invitation.id, { nonsense: true })).status).toBe(400);
    expect((await retrieve('abc', first.token)).status).toBe(404);
    const page = await fetch(`${service.baseUrl}/join/invitation/${TokenSigner.serialize({ ...first.token, membershipInvitationId: second.invitation.id })}`);
    expect(page.status).toBe(404);
    expect(await page.text()).toContain('This link is not valid');
    const lapsedLink = await fetch(`${service.baseUrl}/join/invitation/${TokenSigner.serialize(expired)}`);
    expect(lapsedLink.status).toBe(410);
    expect(await lapsedLink.text()).toContain('This link has expired');
  });

  it('closes an invitation at its expiresOn: the link, the join and the verification say so', async () => {
    const teamId = await newTeam();
    const invitee = await signUp(api, service.baseUrl, 'tardy');
    const { invitation, serialized, token } = await inviteByEmail(teamId, invitee.email, { expiresOn: new Date(Date.now() + 1500).toISOString() });
    const handle = service.temporal.workflow.getHandle(invitationWorkflowId(Number(invitation.id)));
    expect(await handle.result()).toBe('expired');
    const page = await fetch(`${service.baseUrl}/join/invitation/${serialized}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('This invitation has expired');
    expect((await api('POST', `/repo/v1/membershipInvitation/${invitation.id}`, token)).status).toBe(403);
    expect((await api('GET', `/repo/v1/membershipInvitation/${invitation.id}/inviteeVerificationSignedToken`, undefined, invitee.accessToken)).status).toBe(400);
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${invitee.accountId}`, undefined, invitee.accessToken)).status).toBe(403);
    expect(await statistics(teamId)).toMatchObject({ created: 1, expired: 1, joined: 0 });
  });

  it('mails the invited address when another account asks, at most three times a day, and binds from that mail', async () => {
    const teamId = await newTeam();
    const inviteeEmail = uniqueEmail('owner');
    const { invitation, serialized } = await inviteByEmail(teamId, inviteeEmail);
    const other = await signUp(api, service.baseUrl, 'other');
    // The one who asks holds the emailed link, but is signed in with another address.
    const ask = () => api('GET', `/repo/v1/membershipInvitation/${invitation.id}/inviteeVerificationSignedToken`, undefined, other.accessToken, { 'X-Invitation-Token': serialized });
    for (let i = 0; i < 4; i++) expect((await ask()).status).toBe(403);
    const mails = await waitForEmails(inviteeEmail, /Confirm your invitation/, 3);
    expect((await emailsTo(inviteeEmail, /Confirm your invitation/)).length).toBe(3);
    expect((await statistics(teamId)).verificationRefused).toBe(4);

    const prefix = `${service.baseUrl}/join/verify/`;
    const verification = TokenSigner.parse(tokenInLink(linkIn(mails[0], prefix), prefix)) as Record<string, string>;
    expect(verification).toMatchObject({ inviteeId: String(other.accountId), membershipInvitationId: invitation.id });

    const third = await signUp(api, service.baseUrl, 'third');
    const put = (id: string, body: unknown, token: string) => api('PUT', `/repo/v1/membershipInvitation/${id}/inviteeId`, body, token);
    expect((await put(invitation.id, verification, third.accessToken)).status).toBe(403);
    expect((await put(String(Number(invitation.id) + 1000), verification, other.accessToken)).status).toBe(400);
    expect((await put(invitation.id, { ...verification, inviteeId: String(third.accountId) }, third.accessToken)).status).toBe(403);
    const stale = service.deps.signer.sign('InviteeVerificationSignedToken', { ...verification, expiresOn: new Date(Date.now() - 1000).toISOString() });
    expect((await put(invitation.id, stale, other.accessToken)).status).toBe(403);
    const bound = await put(invitation.id, verification, other.accessToken);
    expect(bound.status).toBe(200);
    expect(bound.body.inviteeId).toBe(String(other.accountId));
  });

  it('revokes: the links say the invitation was withdrawn', async () => {
    const teamId = await newTeam();
    const { invitation, token, serialized } = await inviteByEmail(teamId, uniqueEmail('revoked'));
    const stranger = await signUp(api, service.baseUrl, 'stranger');
    expect((await api('DELETE', `/repo/v1/membershipInvitation/${invitation.id}`, undefined, stranger.accessToken)).status).toBe(403);
    expect((await api('DELETE', `/repo/v1/membershipInvitation/${invitation.id}`, undefined, admin.accessToken)).status).toBe(204);
    expect((await api('DELETE', `/repo/v1/membershipInvitation/${invitation.id}`, undefined, admin.accessToken)).status).toBe(204);
    const retrieved = await api('POST', `/repo/v1/membershipInvitation/${invitation.id}`, token);
    expect(retrieved.status).toBe(410);
    expect(retrieved.body.reason).toMatch(/withdrawn/);
    const page = await fetch(`${service.baseUrl}/join/invitation/${serialized}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('This invitation was withdrawn');
    expect((await api('GET', `/repo/v1/team/${teamId}/openInvitation`, undefined, admin.accessToken)).body.results).toEqual([]);
    expect(await statistics(teamId)).toMatchObject({ created: 1, revoked: 1 });
    const other = await signUp(api, service.baseUrl, 'late');
    expect((await api('GET', `/repo/v1/membershipInvitation/${invitation.id}/inviteeVerificationSignedToken`, undefined, other.accessToken, { 'X-Invitation-Token': serialized })).status).toBe(400);
    // Without the link, a stranger learns nothing of the state.
    expect((await api('GET', `/repo/v1/membershipInvitation/${invitation.id}/inviteeVerificationSignedToken`, undefined, other.accessToken)).status).toBe(403);
  });

  it('refuses bad account requests', async () => {
    const taken = await signUp(api, service.baseUrl, 'taken');
    const validation = (body: unknown, query = '') => api('POST', `/repo/v1/account/emailValidation${query}`, body);
    // An existing account's address gets the same answer as any other (its owner is mailed a notice).
    expect((await validation({ email: taken.email.toUpperCase(), firstName: 'a', lastName: 'b' })).status).toBe(201);
    expect((await validation({ email: uniqueEmail('x'), firstName: 'a', lastName: 'b' }, '?portalEndpoint=' + encodeURIComponent('https://evil.example/'))).status).toBe(400);
    expect((await validation({ email: 'nope', firstName: 'a', lastName: 'b' })).status).toBe(400);
    expect((await validation({ email: uniqueEmail('x'), firstName: 'a', lastName: 'b', encodedMembershipInvtnSignedToken: 'garbage' })).status).toBe(403);

    const email = uniqueEmail('fresh');
    expect((await validation({ email, firstName: 'Fresh', lastName: 'User' })).status).toBe(201);
    const mail = await waitForEmail(email, 'Welcome to flowgate');
    const prefix = `${service.baseUrl}/join/account/`;
    const envelope = TokenSigner.parse(tokenInLink(linkIn(mail, prefix), prefix)) as { emailValidationSignedToken: Record<string, string> };
    const setup = { firstName: 'Fresh', lastName: 'User', username: `fresh-${Date.now()}`, password: PASSWORD, emailValidationSignedToken: envelope.emailValidationSignedToken };
    const create = (body: unknown) => api('POST', '/repo/v1/account', body);
    expect((await create({ ...setup, username: 'ab' })).status).toBe(400);
    expect((await create({ ...setup, username: 'has space' })).status).toBe(400);
    expect((await create({ ...setup, password: 'short1!' })).status).toBe(400);
    expect((await create({ ...setup, password: 'longbutnosymbol1' })).body.reason).toMatch(/letter, a digit and a symbol/);
    expect((await create({ ...setup, username: taken.username.toUpperCase() })).status).toBe(409);
    expect((await create({ ...setup, emailValidationSignedToken: { ...envelope.emailValidationSignedToken, email: 'someone@example.test' } })).status).toBe(403);
    const lapsed = service.deps.signer.sign('EmailValidationSignedToken', { ...envelope.emailValidationSignedToken, expiresOn: new Date(Date.now() - 1000).toISOString() });
    expect((await create({ ...setup, emailValidationSignedToken: lapsed })).status).toBe(403);
    expect((await create(setup)).status).toBe(201);
    const second = await create({ ...setup, username: `${setup.username}-2` });
    expect(second.status).toBe(409);

    const wrong = await api('POST', '/auth/v1/login', { username: setup.username, password: 'wrong-password-1!' });
    const unknown = await api('POST', '/auth/v1/login', { username: 'nobody-here', password: 'wrong-password-1!' });
    expect(wrong).toEqual({ status: 401, body: { reason: 'Wrong username or password.' } });
    expect(unknown).toEqual(wrong);
    expect((await api('POST', '/auth/v1/login', { username: email.toUpperCase(), password: PASSWORD })).status).toBe(200);
  });
});
