import { randomUUID } from 'node:crypto';
import { WorkflowUpdateStage } from '@temporalio/client';
import { TokenSigner } from '../../src/shared/tokens';
import { hashPassword } from '../../src/shared/auth';
import { AccountCreationToken, allocateInvitationId, claimIdempotencyKey, findInvitation } from '../../src/domain/invitation';
import type { accountEmailValidationWorkflow } from '../../src/workflows/invitation/workflow';
import { createValidatedAccountUpdate, emailValidationWorkflowId, invitationStateQuery, invitationWorkflowId, joinTeamUpdate } from '../../src/workflows/invitation/messages';
import { startService, TestService } from '../support/service';
import { emailsTo, linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
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

async function newTeam(owner = admin): Promise<string> {
  const team = await api('POST', '/repo/v1/team', { name: 'Durable team' }, owner.accessToken);
  expect(team.status).toBe(201);
  return team.body.id;
}

const invite = (body: unknown, key?: string, owner = admin) =>
  api('POST', '/repo/v1/membershipInvitation', body, owner.accessToken, key === undefined ? {} : { 'Idempotency-Key': key });

const invitationsTo = (inviteeEmail: string) => service.db.membershipInvitation.count({ where: { inviteeEmail } });

describe('POST /repo/v1/membershipInvitation with an Idempotency-Key', () => {
  it('answers a retry with the first invitation and creates nothing new; another request under the key is 422', async () => {
    const teamId = await newTeam();
    const inviteeEmail = uniqueEmail('keyed');
    const key = randomUUID();
    const first = await invite({ teamId, inviteeEmail, message: 'Once' }, key);
    expect(first.status).toBe(201);
    const retried = await invite({ teamId, inviteeEmail, message: 'Once' }, key);
    expect(retried).toEqual(first);
    await waitForEmail(inviteeEmail, /You are invited to join/);
    expect(await invitationsTo(inviteeEmail)).toBe(1);
    expect((await emailsTo(inviteeEmail, /You are invited to join/)).length).toBe(1);

    const changed = await invite({ teamId, inviteeEmail, message: 'Twice' }, key);
    expect(changed.status).toBe(422);
    expect(changed.body.reason).toMatch(/Idempotency-Key/);
    expect(await invitationsTo(inviteeEmail)).toBe(1);

    // Keys are the caller's own: another admin's same key is another request.
    const otherAdmin = await signUp(api, service.baseUrl, 'admin2');
    const theirs = await invite({ teamId: await newTeam(otherAdmin), inviteeEmail, message: 'Twice' }, key, otherAdmin);
    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(first.body.id);

    expect((await invite({ teamId, inviteeEmail }, 'x'.repeat(256))).status).toBe(400);
  });

  it('creates one invitation when two requests with the same key arrive together', async () => {
    const teamId = await newTeam();
    const inviteeEmail = uniqueEmail('concurrent');
    const key = randomUUID();
    const answers = await Promise.all([invite({ teamId, inviteeEmail }, key), invite({ teamId, inviteeEmail }, key), invite({ teamId, inviteeEmail }, key)]);
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    await waitForEmail(inviteeEmail, /You are invited to join/);
    expect(await invitationsTo(inviteeEmail)).toBe(1);
    expect((await emailsTo(inviteeEmail, /You are invited to join/)).length).toBe(1);
  });

  it('finishes the invitation of a first request that stopped after claiming the key', async () => {
    const teamId = await newTeam();
    const inviteeEmail = uniqueEmail('stopped');
    const key = randomUUID();
    const invitationId = await allocateInvitationId(service.db);
    const request = { teamId: Number(teamId), createdBy: admin.accountId, inviteeEmail, acceptInvitationEndpoint: `${service.baseUrl}/join/invitation/` };
    await claimIdempotencyKey(service.db, admin.accountId, key, request, { ...request, invitationId, expiresOn: new Date(Date.now() + 86_400_000).toISOString() });
    const retried = await invite({ teamId, inviteeEmail }, key);
    expect(retried.status).toBe(201);
    expect(retried.body).toMatchObject({ id: String(invitationId), inviteeEmail });
    await waitForEmail(inviteeEmail, /You are invited to join/);
    expect(await invitationsTo(inviteeEmail)).toBe(1);
  });
});

describe('account creation with a carried invitation', () => {
  async function registrationFor(inviteeEmail: string, serialized: string): Promise<AccountCreationToken> {
    const requested = await api('POST', '/repo/v1/account/emailValidation', { email: inviteeEmail, firstName: 'Cut', lastName: 'Off', encodedMembershipInvtnSignedToken: serialized });
    expect(requested.status).toBe(201);
    const mail = await waitForEmail(inviteeEmail, 'Welcome to flowgate');
    const prefix = `${service.baseUrl}/join/account/`;
    return TokenSigner.parse(tokenInLink(linkIn(mail, prefix), prefix)) as AccountCreationToken;
  }

  async function inviteByEmail(teamId: string, inviteeEmail: string) {
    const created = await invite({ teamId, inviteeEmail });
    expect(created.status).toBe(201);
    const mail = await waitForEmail(inviteeEmail, /You are invited to join/);
    const prefix = `${service.baseUrl}/join/invitation/`;
    return { invitation: created.body, serialized: tokenInLink(linkIn(mail, prefix), prefix) };
  }

  it('binds the invitation even when the API stops right after the account-creation update was accepted, before a retry is answered', async () => {
    const teamId = await newTeam();
    const inviteeEmail = uniqueEmail('cutoff');
    const { invitation, serialized } = await inviteByEmail(teamId, inviteeEmail);
    const envelope = await registrationFor(inviteeEmail, serialized);
    const username = `cutoff-${Math.random().toString(36).slice(2, 8)}`;

    // What POST /repo/v1/account sends; nothing waits for the answer, as if the API process died here.
    const update = await service.temporal.workflow.getHandle<typeof accountEmailValidationWorkflow>(emailValidationWorkflowId(inviteeEmail)).startUpdate(createValidatedAccountUpdate, {
      args: [{ username, firstName: 'Cut', lastName: 'Off', passwordHash: await hashPassword(PASSWORD), invitationId: Number(invitation.id) }],
      waitForStage: WorkflowUpdateStage.ACCEPTED,
    });

    // The client's retry, at once: it is answered only after the first attempt has bound the invitation.
    const retry = await api('POST', '/repo/v1/account', {
      firstName: 'Cut',
      lastName: 'Off',
      username,
      password: PASSWORD,
      emailValidationSignedToken: envelope.emailValidationSignedToken,
      encodedMembershipInvtnSignedToken: serialized,
    });
    expect(retry.status).toBe(409);
    // Not "username taken": the retry is recognised as the same sign-up whichever row it saw first.
    expect(retry.body.reason).not.toMatch(/username/);
    const account = await service.db.account.findUnique({ where: { email: inviteeEmail } });
    expect((await findInvitation(service.db, Number(invitation.id)))?.inviteeId).toBe(account!.id);
    const state = await service.temporal.workflow.getHandle(invitationWorkflowId(Number(invitation.id))).query(invitationStateQuery);
    expect(state).toMatchObject({ step: 'awaiting_join', inviteeId: account!.id, boundVia: 'new_account' });
    const stats = await api('GET', `/repo/v1/membershipInvitation/statistics?teamId=${teamId}`, undefined, admin.accessToken);
    expect(stats.body).toMatchObject({ created: 1, boundViaNewAccount: 1 });
    expect((await update.result()).invitation).toMatchObject({ id: invitation.id, inviteeId: String(account!.id) });

    // The invitee signs in and joins.
    const login = await api('POST', '/auth/v1/login', { username, password: PASSWORD });
    expect(login.status).toBe(200);
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${account!.id}`, undefined, login.body.accessToken)).status).toBe(204);
  });

  it('creates the account but leaves the invitation unbound when it was sent to another address', async () => {
    const teamId = await newTeam();
    const { invitation, serialized } = await inviteByEmail(teamId, uniqueEmail('invited'));
    const other = await signUp(api, service.baseUrl, 'elsewhere', { encodedMembershipInvtnSignedToken: serialized });
    expect(other.accessToken).toBeTruthy();
    expect((await findInvitation(service.db, Number(invitation.id)))?.inviteeId).toBeNull();
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${other.accountId}`, undefined, other.accessToken)).status).toBe(403);
  });
});

describe('joining a team', () => {
  it('answers a join retried while the first is still running like the first, and joins once', async () => {
    const teamId = await newTeam();
    const inviteeEmail = uniqueEmail('rejoin');
    const invitee = await signUp(api, service.baseUrl, 'rejoin', { email: inviteeEmail });
    const created = await invite({ teamId, inviteeId: String(invitee.accountId) });
    expect(created.status).toBe(201);
    // The same join twice at once: a client retrying after its first answer was lost.
    const handle = service.temporal.workflow.getHandle(invitationWorkflowId(Number(created.body.id)));
    await Promise.all([
      handle.executeUpdate(joinTeamUpdate, { args: [{ accountId: invitee.accountId }] }),
      handle.executeUpdate(joinTeamUpdate, { args: [{ accountId: invitee.accountId }] }),
    ]);
    expect(await handle.result()).toBe('joined');
    expect(await service.db.teamMember.count({ where: { teamId: Number(teamId), accountId: invitee.accountId } })).toBe(1);
    // Through HTTP, a member joining again is 204 with no change.
    expect((await api('PUT', `/repo/v1/team/${teamId}/member/${invitee.accountId}`, undefined, invitee.accessToken)).status).toBe(204);
  });
});
