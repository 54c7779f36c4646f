import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowNotFoundError } from '@temporalio/client';
import { startTimeSkipping, TimeSkippingHarness } from '../support/timeSkipping';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import type { Deps } from '../../src/deps';
import { hashPassword } from '../../src/shared/auth';
import { hashKey } from '../../src/shared/tokens';
import { ExpiresAt, FlowStep, TrialEndsAt } from '../../src/shared/searchAttributes';
import { readTrialInfos } from '../../src/domain/trial';
import { trialWorkflow } from '../../src/workflows/trial/workflow';
import {
  completeTrialUpdate,
  createTrialAccountUpdate,
  endTrialUpdate,
  extendTrialUpdate,
  TrialStatus,
  trialStateQuery,
  verifyTokenUpdate,
  trialSearchAttributes,
} from '../../src/workflows/trial/messages';

const DAY = 86_400_000;
let harness: TimeSkippingHarness;
let env: TestWorkflowEnvironment;
let deps: Deps;
let taskQueue: string;
const withWorker = (test: () => Promise<void>) => harness.withWorker(test);

beforeAll(async () => {
  harness = await startTimeSkipping('trial-time-skipping');
  ({ env, deps, taskQueue } = harness);
});
afterAll(() => harness?.teardown());

function startTrial(email: string) {
  return env.client.workflow.start(trialWorkflow, {
    workflowId: `trial/${email}`,
    taskQueue,
    args: [{ email, firstName: 'Grace', lastName: '', company: '', verificationTtlMs: 7 * DAY, trialLengthMs: 14 * DAY, reminderBeforeMs: 3 * DAY }],
    typedSearchAttributes: trialSearchAttributes(email, 'awaiting_verification', Date.now() + 7 * 86_400_000),
  });
}

/** The hash of the token in the real verification mail: what the API sends the workflow. */
async function tokenHashFromMail(email: string): Promise<string> {
  const mail = await waitForEmail(email, /Verify your email/);
  const link = linkIn(mail, `${deps.config.publicUrl}/trial/register?token=`);
  return hashKey(new URL(link).searchParams.get('token')!);
}

async function activeTrial(email: string) {
  const handle = await startTrial(email);
  const tokenHash = await tokenHashFromMail(email);
  expect(await handle.executeUpdate(verifyTokenUpdate, { args: [{ tokenHash }] })).toMatchObject({ username: email, firstName: 'Grace' });
  const created = await handle.executeUpdate(createTrialAccountUpdate, { args: [{ tokenHash, passwordHash: await hashPassword('Grace-pass-1') }] });
  return { handle, created };
}

/** Polls the workflow's own state (no sleep): activities run in real time after a timer fires. */
async function waitForStatus(handle: Awaited<ReturnType<typeof startTrial>>, status: TrialStatus) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = await handle.query(trialStateQuery);
    if (state.status === status) return state;
    if (Date.now() > deadline) throw new Error(`trial stayed ${state.status}, expected ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('trial workflow on the time-skipping server', () => {
  it('reminds 3 days before the end, expires and revokes access, is revived by extend, then converted', async () => {
    await withWorker(async () => {
      const email = uniqueEmail('ts-expiry');
      const { handle, created } = await activeTrial(email);
      const endsAt = Date.parse(created.trialEndsAt);

      await env.sleep(11 * DAY + 3_600_000);
      const reminder = await waitForEmail(email, 'Your free trial ends soon');
      expect(reminder.text).toContain(new Date(endsAt).toUTCString().slice(0, 16));
      expect((await handle.query(trialStateQuery)).status).toBe('active');

      await env.sleep(3 * DAY);
      await waitForStatus(handle, 'expired');
      await waitForEmail(email, 'Your free trial has ended');
      const app = await deps.db.app.findUniqueOrThrow({ where: { id: created.appId } });
      expect(app.ownerPermission).toBe('none');
      expect(app.accessRevokedAt).not.toBeNull();
      expect(await readTrialInfos(deps.db, email)).toMatchObject({ status: 'expired', expired: true, daysLeft: 0 });
      expect((await handle.describe()).typedSearchAttributes.get(FlowStep)).toBe('trial_expired');

      // Extend after expiry: counted from now, access restored.
      const before = Date.now();
      const extended = await handle.executeUpdate(extendTrialUpdate, { args: [{ days: 5 }] });
      expect(Date.parse(extended.trialEndsAt)).toBeGreaterThan(endsAt + 5 * DAY);
      expect(Date.parse(extended.trialEndsAt)).toBeGreaterThanOrEqual(before + 5 * DAY - 60_000);
      expect((await handle.query(trialStateQuery)).status).toBe('active');
      expect((await deps.db.app.findUniqueOrThrow({ where: { id: created.appId } })).ownerPermission).toBe('owner');
      expect((await deps.db.trial.findUniqueOrThrow({ where: { email } })).trialEndsAt?.toISOString()).toBe(extended.trialEndsAt);

      expect(await handle.executeUpdate(completeTrialUpdate, { args: [] })).toEqual({ status: 'converted' });
      // Converted: no expiry afterwards, the flow ends.
      expect(await handle.result()).toBe('converted');
      expect(await readTrialInfos(deps.db, email)).toMatchObject({ status: 'converted', expired: false });
      expect((await deps.db.app.findUniqueOrThrow({ where: { id: created.appId } })).ownerPermission).toBe('owner');
    });
  });

  it('takes the operator updates: endTrial ends a pending sign-up (its link dead) and a running trial (access revoked); bad input is refused', async () => {
    await withWorker(async () => {
      const pendingEmail = uniqueEmail('ts-end-pending');
      const pending = await startTrial(pendingEmail);
      const tokenHash = await tokenHashFromMail(pendingEmail);
      await expect(pending.executeUpdate(endTrialUpdate, { args: [{ reason: '' }] })).rejects.toMatchObject({ cause: { message: 'Give a "reason" for the record.' } });
      await expect(pending.executeUpdate(extendTrialUpdate, { args: [{ days: 3 }] })).rejects.toMatchObject({ cause: { message: 'The trial is pending verification.' } });
      expect(await pending.executeUpdate(endTrialUpdate, { args: [{ reason: 'a sign-up by mistake' }] })).toEqual({ ending: expect.stringContaining('ends unverified') });
      expect(await pending.result()).toBe('unverified');
      await expect(pending.executeUpdate(verifyTokenUpdate, { args: [{ tokenHash }] })).rejects.toThrow();

      const email = uniqueEmail('ts-end-running');
      const { handle, created } = await activeTrial(email);
      await waitForStatus(handle, 'active');
      const attributes = (await handle.describe()).typedSearchAttributes;
      expect(attributes.get(TrialEndsAt)?.toISOString()).toBe(created.trialEndsAt);
      expect(attributes.get(ExpiresAt)?.toISOString()).toBe(created.trialEndsAt);
      await expect(handle.executeUpdate(extendTrialUpdate, { args: [{ days: 0 }] })).rejects.toMatchObject({ cause: { message: '"days" must be a whole number from 1 to 365.' } });
      expect(await handle.executeUpdate(endTrialUpdate, { args: [{ reason: 'abuse' }] })).toEqual({ ending: expect.stringContaining('access is revoked') });
      expect(await handle.result()).toBe('expired');
      expect((await deps.db.app.findUniqueOrThrow({ where: { id: created.appId } })).ownerPermission).toBe('none');
      expect((await handle.describe()).typedSearchAttributes.get(FlowStep)).toBe('trial_expired');
    });
  });

  it('ends as unverified when the link is not used within TRIAL_VERIFICATION_TTL, and the token is dead', async () => {
    await withWorker(async () => {
      const email = uniqueEmail('ts-unverified');
      const handle = await startTrial(email);
      const tokenHash = await tokenHashFromMail(email);
      expect(await handle.result()).toBe('unverified');
      expect((await deps.db.trial.findUniqueOrThrow({ where: { email } })).status).toBe('unverified');
      expect(await readTrialInfos(deps.db, email)).toBeUndefined();
      await expect(handle.executeUpdate(verifyTokenUpdate, { args: [{ tokenHash }] })).rejects.toBeInstanceOf(WorkflowNotFoundError);
      expect(await deps.db.account.count({ where: { email } })).toBe(0);
    });
  });

  it('ends as expired when nobody extends an expired trial, with the app still revoked', async () => {
    await withWorker(async () => {
      const email = uniqueEmail('ts-expired');
      const { handle, created } = await activeTrial(email);
      expect(await handle.result()).toBe('expired');
      await waitForEmail(email, 'Your free trial ends soon');
      await waitForEmail(email, 'Your free trial has ended');
      expect((await deps.db.app.findUniqueOrThrow({ where: { id: created.appId } })).ownerPermission).toBe('none');
    });
  });
});
