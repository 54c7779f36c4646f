import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTimeSkipping, TimeSkippingHarness } from '../support/timeSkipping';
import { emailsTo, waitForEmail } from '../support/mailbox';
import type { Deps } from '../../src/deps';
import { ExpiresAt, FlowStep } from '../../src/shared/searchAttributes';
import { closedReason, findInvitation, invitationStatistics } from '../../src/domain/invitation';
import type { accountEmailValidationWorkflow } from '../../src/workflows/invitation/workflow';
import {
  createValidatedAccountUpdate,
  emailValidationSearchAttributes,
  emailValidationWorkflowId,
  invitationStateQuery,
  requestValidationEmailSignal,
  ValidationEmailRequest,
} from '../../src/workflows/invitation/messages';
import { uniqueEmail } from '../support/mailbox';
import { invitationPaths } from './paths';

const DAY = 86_400_000;
let harness: TimeSkippingHarness;
let env: TestWorkflowEnvironment;
let deps: Deps;
let paths: ReturnType<typeof invitationPaths>;

beforeAll(async () => {
  harness = await startTimeSkipping('invitation-time-skipping');
  ({ env, deps } = harness);
  paths = invitationPaths(env.client, harness.taskQueue, deps, () => env.currentTimeMs());
});
afterAll(() => harness?.teardown());

describe('invitation timers on the time-skipping server', () => {
  it('expires an unanswered invitation at expiresOn, without waiting a week', async () => {
    await harness.withWorker(async () => {
      const started = Date.now();
      const handle = await paths.expiredPath();
      const input = (await handle.query(invitationStateQuery)).invitation!;
      await waitForEmail(input.inviteeEmail!, /You are invited to join/);
      expect(await handle.result()).toBe('expired');
      expect(Date.now() - started).toBeLessThan(60_000);
      const row = await findInvitation(deps.db, Number(input.id));
      expect(row?.expiredOn).toBeInstanceOf(Date);
      expect((await handle.describe()).typedSearchAttributes.get(FlowStep)).toBe('expired');
      expect((await invitationStatistics(deps.db, Number(input.teamId))).expired).toBe(1);
    });
  });

  it('lets a new-account email validation lapse after its 24 hours; a late account creation is refused', async () => {
    await harness.withWorker(async () => {
      const email = uniqueEmail('lapse');
      const handle = await env.client.workflow.signalWithStart<typeof accountEmailValidationWorkflow, [ValidationEmailRequest]>('accountEmailValidationWorkflow', {
        workflowId: emailValidationWorkflowId(email),
        taskQueue: harness.taskQueue,
        args: [{ email, ttlMs: DAY }],
        signal: requestValidationEmailSignal,
        signalArgs: [{ firstName: 'Late', lastName: 'Comer', portalEndpoint: 'http://localhost/join/account/' }],
        typedSearchAttributes: emailValidationSearchAttributes(email, Date.now() + 86_400_000),
      });
      await waitForEmail(email, 'Welcome to flowgate');
      expect(await handle.result()).toBe('lapsed');
      await expect(handle.executeUpdate(createValidatedAccountUpdate, { args: [{ username: 'too-late', firstName: 'a', lastName: 'b', passwordHash: 'x' }] })).rejects.toThrow();
      expect(await deps.db.account.findUnique({ where: { email } })).toBeNull();
      expect((await emailsTo(email)).length).toBe(1);
    });
  });

  it('an account created a moment before the last link lapses ends the flow as account_created, FlowStep included', async () => {
    await harness.withWorker(async () => {
      const email = uniqueEmail('lastminute');
      const handle = await paths.startEmailValidation(email);
      await env.sleep(DAY - 1_000);
      // A creation under way holds the lapse (the loop waits for it), so the outcome is what the creation leaves.
      const created = await handle.executeUpdate(createValidatedAccountUpdate, { args: [{ username: `last-${Date.now().toString(36)}`, firstName: 'Last', lastName: 'Minute', passwordHash: 'x' }] });
      expect(created.accountId).toBeGreaterThan(0);
      expect(await handle.result()).toBe('account_created');
      expect((await handle.describe()).typedSearchAttributes.get(FlowStep)).toBe('account_created');
    });
  });
});

// On a server of its own: its clock still agrees with the database's, which dates the invitation (the server above has
// skipped far ahead by now), and the invitation's end is read from that date.
describe('an invitation started without expiry, on the time-skipping server', () => {
  let own: TimeSkippingHarness;
  let ownPaths: ReturnType<typeof invitationPaths>;
  beforeAll(async () => {
    own = await startTimeSkipping('invitation-no-expiry');
    ownPaths = invitationPaths(own.env.client, own.taskQueue, own.deps, () => own.env.currentTimeMs());
  });
  afterAll(() => own?.teardown());

  it('ends an invitation started without expiry when its link does, INVITATION_MAX_LIFETIME (a year) after it was made', async () => {
    await own.withWorker(async () => {
      const { handle, input } = await ownPaths.startInvitation({ expiresOn: undefined });
      expect(input.expiresOn).toBeUndefined();
      const row = (await findInvitation(deps.db, input.invitationId))!;
      const endsOn = row.createdOn.getTime() + deps.config.ttl.invitationMaxLifetime;
      expect(deps.config.ttl.invitationMaxLifetime).toBe(365 * DAY);
      await waitForEmail(input.inviteeEmail!, /You are invited to join/);
      // Open, and says until when, up to its last day (a query would let the server skip to the end, so the flow is described).
      await own.env.sleep(endsOn - DAY - (await own.env.currentTimeMs()));
      const lastDay = await handle.describe();
      expect({ status: lastDay.status.name, flowStep: lastDay.typedSearchAttributes.get(FlowStep), expiresAt: lastDay.typedSearchAttributes.get(ExpiresAt)?.getTime() }).toEqual({ status: 'RUNNING', flowStep: 'awaiting_invitee', expiresAt: endsOn });

      expect(await handle.result()).toBe('expired');
      expect(await own.env.currentTimeMs()).toBeGreaterThanOrEqual(endsOn);
      const ended = await handle.describe();
      expect({ status: ended.status.name, flowStep: ended.typedSearchAttributes.get(FlowStep), expiresAt: ended.typedSearchAttributes.get(ExpiresAt) }).toEqual({ status: 'COMPLETED', flowStep: 'expired', expiresAt: undefined });
      expect((await handle.query(invitationStateQuery)).step).toBe('expired');
      const closed = (await findInvitation(deps.db, input.invitationId))!;
      expect(closed.expiredOn).toBeInstanceOf(Date);
      expect(closedReason(closed)).toBe('expired');
    });
  });
});
