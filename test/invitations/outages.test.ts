// Clicks of the invitation flow while what they need is down: the flows'
// worker, the database. Each answers within the request's deadline with
// "try again in a moment" (a page, or a JSON 503 with Retry-After, as the
// contract documents it), never a hang or another 5xx; once the outage is
// over, the same click retried gets the right answer, and acts once.
import { openApiJson } from '../../src/api/openapi';
import { FlowStep } from '../../src/shared/searchAttributes';
import { findInvitation } from '../../src/domain/invitation';
import { invitationStateQuery, invitationWorkflowId } from '../../src/workflows/invitation/messages';
import { ContractChecker } from '../support/contract';
import { startDbProxy, DbProxy } from '../support/dbProxy';
import { linkIn, waitForEmail } from '../support/mailbox';
import { PageClient, PageResponse } from '../support/pageClient';
import { startService, TestService } from '../support/service';
import { Answer, apiClient, Api, PASSWORD, signUp, tokenInLink } from './helpers';

const DEADLINE_MS = 2000;
/** What an answer may take beyond the deadline on a busy machine. */
const MARGIN_MS = 3000;
const JOIN = 'PUT /repo/v1/team/:id/member/:principalId';
const checker = new ContractChecker(JSON.parse(openApiJson()));

let proxy: DbProxy;
let service: TestService;
let api: Api;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  // The service reaches its PostgreSQL through a proxy the tests can cut, the worker as much as the API.
  proxy = await startDbProxy(process.env.DATABASE_URL!);
  service = await startService({ DATABASE_URL: proxy.url, UPDATE_DEADLINE: `${DEADLINE_MS}ms` });
  api = apiClient(service.baseUrl);
  admin = await signUp(api, service.baseUrl, 'outage-admin');
});
afterAll(async () => {
  proxy?.restore();
  await service?.stop();
  await proxy?.close();
});

/**
 * A team, an invitee with an account, and an invitation: to the invitee's
 * address, with its emailed link, or to the account itself (bound from the
 * start, so the invitee may join at once).
 */
async function invited(tag: string, to: 'address' | 'account' = 'address') {
  const team = await api('POST', '/repo/v1/team', { name: `Team ${tag}` }, admin.accessToken);
  expect(team.status).toBe(201);
  const invitee = await signUp(api, service.baseUrl, tag);
  const created = await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, ...(to === 'address' ? { inviteeEmail: invitee.email } : { inviteeId: String(invitee.accountId) }) }, admin.accessToken);
  expect(created.status).toBe(201);
  const prefix = `${service.baseUrl}/join/invitation/`;
  const link = to === 'address' ? tokenInLink(linkIn(await waitForEmail(invitee.email, /You are invited to join/), prefix), prefix) : '';
  return { teamId: team.body.id as string, invitee, invitationId: Number(created.body.id), link };
}

const joinJson = (teamId: string, invitee: { accountId: number; accessToken: string }) => api('PUT', `/repo/v1/team/${teamId}/member/${invitee.accountId}`, undefined, invitee.accessToken);

/** The call's answer and how long it took. */
async function timed<T>(call: () => Promise<T>): Promise<{ answer: T; ms: number }> {
  const started = Date.now();
  const answer = await call();
  return { answer, ms: Date.now() - started };
}

/** The JSON join answered with the 503 the contract documents: `try_again`, Retry-After, within the deadline. */
async function expectJsonTryAgain(call: () => Promise<Response>) {
  const { answer: res, ms } = await timed(call);
  const body = (await res.json()) as { code?: string };
  expect({ status: res.status, retryAfter: res.headers.get('retry-after'), code: body.code }).toEqual({ status: 503, retryAfter: '5', code: 'try_again' });
  expect(checker.answerProblems(JOIN, { status: res.status, headers: res.headers, body, contentType: res.headers.get('content-type') })).toEqual([]);
  expect(ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
}

/** The page a person gets: "Please try again in a moment", with Retry-After, within the deadline. */
async function expectTryAgainPage(click: () => Promise<PageResponse>) {
  const { answer: page, ms } = await timed(click);
  expect({ status: page.status, h1: page.h1, retryAfter: page.headers.get('retry-after') }).toEqual({ status: 503, h1: 'Please try again in a moment', retryAfter: '5' });
  expect(ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
}

/** Retries the call while it answers 503 (as a client told Retry-After would, only faster), then returns the answer. */
async function retried<T extends { status: number }>(call: () => Promise<T>): Promise<T> {
  let answer = await call();
  for (const giveUp = Date.now() + 60_000; answer.status === 503 && Date.now() < giveUp; answer = await call()) await new Promise((r) => setTimeout(r, 250));
  return answer;
}

const rawJoin = (teamId: string, invitee: { accountId: number; accessToken: string }) => () =>
  fetch(`${service.baseUrl}/repo/v1/team/${teamId}/member/${invitee.accountId}`, { method: 'PUT', headers: { Authorization: `Bearer ${invitee.accessToken}` } });

/** The invitation's flow ended joined, the invitee is a member once, the invitation records the join. */
async function expectJoinedOnce({ teamId, invitee, invitationId }: Awaited<ReturnType<typeof invited>>) {
  const handle = service.temporal.workflow.getHandle(invitationWorkflowId(invitationId));
  expect(await handle.result()).toBe('joined');
  expect((await handle.describe()).typedSearchAttributes.get(FlowStep)).toBe('joined');
  expect(await service.db.teamMember.count({ where: { teamId: Number(teamId), accountId: invitee.accountId } })).toBe(1);
  expect((await findInvitation(service.db, invitationId))?.joinedOn).toBeInstanceOf(Date);
}

describe('a JSON join while the flows\' worker is down', () => {
  it('answers 503 with Retry-After as documented, within the deadline; the same join retried later joins once', async () => {
    const invitation = await invited('outage-worker', 'account');
    await service.stopWorker();
    try {
      await expectJsonTryAgain(rawJoin(invitation.teamId, invitation.invitee));
    } finally {
      await service.startWorker();
    }
    const joined: Answer = await retried(() => joinJson(invitation.teamId, invitation.invitee));
    expect(joined.status).toBe(204);
    expect((await joinJson(invitation.teamId, invitation.invitee)).status).toBe(204);
    await expectJoinedOnce(invitation);
  }, 120_000);
});

describe('invitation clicks while the database is unreachable', () => {
  it('answers the link, the sign-in and the join with "try again" within the deadline, and the right page once it is back', async () => {
    const invitation = await invited('outage-db');
    const browser = new PageClient(service.baseUrl);
    const signInPage = await browser.get(`/join/invitation/${invitation.link}/sign-in`);
    expect(signInPage.status).toBe(200);

    proxy.cut();
    try {
      await expectTryAgainPage(() => browser.get(`/join/invitation/${invitation.link}`));
      await expectTryAgainPage(() => browser.submit(signInPage, { username: invitation.invitee.username, password: PASSWORD }));
      await expectJsonTryAgain(rawJoin(invitation.teamId, invitation.invitee));
    } finally {
      proxy.restore();
    }

    // Back: the link opens its invitation, and the invitee signs in, is bound and joins.
    const landing = await retried(() => browser.get(`/join/invitation/${invitation.link}`));
    expect(landing.status).toBe(200);
    expect(landing.text).toContain(`Team outage-db`);
    const signedIn = await retried(() => browser.submit(signInPage, { username: invitation.invitee.username, password: PASSWORD }));
    expect({ status: signedIn.status, location: signedIn.location }).toEqual({ status: 302, location: `/join/team/${invitation.teamId}` });
    expect((await retried(() => joinJson(invitation.teamId, invitation.invitee))).status).toBe(204);
    await expectJoinedOnce(invitation);
  }, 120_000);

  it('answers a join whose step the database fails with "try again", and its retry joins once when the database is back', async () => {
    const invitation = await invited('outage-db-step');
    const browser = new PageClient(service.baseUrl);
    const signedIn = await browser.submit(await browser.get(`/join/invitation/${invitation.link}/sign-in`), { username: invitation.invitee.username, password: PASSWORD });
    expect(signedIn.location).toBe(`/join/team/${invitation.teamId}`);
    const teamPage = await browser.get(signedIn.location!);
    expect(teamPage.status).toBe(200);

    // The click reaches the flow while no worker runs; the worker comes back while the database is down,
    // so the join's database step fails, and keeps being retried.
    await service.stopWorker();
    const join = () => browser.submit(teamPage, {});
    try {
      await expectTryAgainPage(join);
      proxy.cut();
      await service.startWorker();
      // The worker took the join: the flow counts the invitee as joining, while its database step fails.
      const flow = service.temporal.workflow.getHandle(invitationWorkflowId(invitation.invitationId));
      for (const giveUp = Date.now() + 30_000; (await flow.query(invitationStateQuery)).step !== 'joined'; await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > giveUp) throw new Error('the worker never took the join');
      }
      await expectTryAgainPage(join);
    } finally {
      proxy.restore();
      await service.startWorker();
    }

    const joined = await retried(join);
    expect({ status: joined.status, location: joined.location }).toEqual({ status: 302, location: `/join/team/${invitation.teamId}?joined=1` });
    const again = await join();
    expect({ status: again.status, location: again.location }).toEqual({ status: 302, location: `/join/team/${invitation.teamId}?joined=1` });
    await expectJoinedOnce(invitation);
  }, 120_000);
});
