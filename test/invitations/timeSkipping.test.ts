import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTimeSkipping, TimeSkippingHarness } from '../support/timeSkipping';
import { emailsTo, waitForEmail } from '../support/mailbox';
import type { Deps } from '../../src/deps';
import { FlowStep } from '../../src/shared/searchAttributes';
import { findInvitation, invitationStatistics } from '../../src/domain/invitation';
import type { accountEmailValidationWorkflow } from '../../src/workflows/invitation/workflow';
import {
  createValidatedAccountUpdate,
  emailValidationSearchAttributes,
  emailValidationWorkflowId,
  invitationStateQuery,
  requestValidationEmailSignal,
  revokeInvitationUpdate,
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

  it('keeps an invitation without expiry open for a year, then revokes it', async () => {
    await harness.withWorker(async () => {
      const { handle, admin } = await paths.startInvitation();
      await env.sleep(365 * DAY);
      expect((await handle.query(invitationStateQuery)).step).toBe('awaiting_invitee');
      await handle.executeUpdate(revokeInvitationUpdate, { args: [{ by: admin.id }] });
      expect(await handle.result()).toBe('revoked');
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
