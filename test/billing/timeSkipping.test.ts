import { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createBillingActivities } from '../../src/activities/billing';
import type { Deps } from '../../src/deps';
import { hashKey } from '../../src/shared/tokens';
import { BillingFailure, billingLoginStepQuery, confirmEmailUpdate, confirmLoginUpdate, endLoginUpdate, requestConfirmationEmailUpdate } from '../../src/workflows/billing/messages';
import { ExpiresAt, FlowStep } from '../../src/shared/searchAttributes';
import { startTimeSkipping, TimeSkippingHarness } from '../support/timeSkipping';
import { linkIn, waitForEmail, waitForEmails } from '../support/mailbox';
import { keyFromLink, seedRealmUser, startLogin } from './workflowSupport';

describe('billing login workflow on the time-skipping server', () => {
  let harness: TimeSkippingHarness;
  let env: TestWorkflowEnvironment;
  let deps: Deps;
  let taskQueue: string;
  const withWorker = (fn: () => Promise<void>) => harness.withWorker(fn);

  beforeAll(async () => {
    harness = await startTimeSkipping('billing-ts');
    ({ env, deps, taskQueue } = harness);
  });
  afterAll(() => harness?.teardown());

  it('an unconfirmed login expires after the confirmation TTL (24 h) without real waiting', async () => {
    const identity = await seedRealmUser(deps);
    await withWorker(async () => {
      const handle = await startLogin(env.client, taskQueue, identity);
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.1' }] });
      await waitForEmail(identity.email, 'Confirm email for plan management');
      const started = Date.now();
      expect(await handle.result()).toEqual({ outcome: 'expired', billingUserId: null });
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await handle.query(billingLoginStepQuery)).toBe('expired');
    });
  });

  it('an operator ends a login with endLogin: its link no longer confirms, and it ends as expired', async () => {
    const identity = await seedRealmUser(deps);
    await withWorker(async () => {
      const handle = await startLogin(env.client, taskQueue, identity);
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.77' }] });
      const link = linkIn(await waitForEmail(identity.email, 'Confirm email for plan management'), 'http');
      expect((await handle.describe()).typedSearchAttributes.get(ExpiresAt)!.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
      await expect(handle.executeUpdate(endLoginUpdate, { args: [{ reason: ' ' }] })).rejects.toMatchObject({ cause: { message: 'Give a "reason" for the record.' } });
      expect(await handle.executeUpdate(endLoginUpdate, { args: [{ reason: 'asked by the customer' }] })).toEqual({ ending: expect.stringContaining('ends now as expired') });
      expect(await handle.result()).toEqual({ outcome: 'expired', billingUserId: null });
      const described = await handle.describe();
      expect(described.typedSearchAttributes.get(FlowStep)).toBe('expired');
      expect(described.typedSearchAttributes.get(ExpiresAt)).toBeUndefined();
      await expect(handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(keyFromLink(link)) }] })).rejects.toThrow();
    });
  });

  it('a new mail gives the full confirmation time again', async () => {
    const identity = await seedRealmUser(deps);
    await withWorker(async () => {
      const handle = await startLogin(env.client, taskQueue, identity);
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.1' }] });
      await env.sleep('20h');
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.1' }] });
      await env.sleep('10h'); // 30 h after the first mail, 10 h after the second
      expect(await handle.query(billingLoginStepQuery)).toBe('awaiting_email_confirmation');
      const [first] = await waitForEmails(identity.email, 'Confirm email for plan management', 2);
      const outcome = await handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(keyFromLink(linkIn(first, 'http'))) }] });
      expect(outcome.outcome).toBe('confirmed');
      expect(await handle.query(billingLoginStepQuery)).toBe('awaiting_login');
    });
  });

  it('a confirmed email without a confirmed login expires after the access-token TTL (2 h)', async () => {
    const identity = await seedRealmUser(deps);
    await withWorker(async () => {
      const handle = await startLogin(env.client, taskQueue, identity);
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.1' }] });
      const link = linkIn(await waitForEmail(identity.email, 'Confirm email for plan management'), 'http');
      const outcome = await handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(keyFromLink(link)) }] });
      expect(outcome).toMatchObject({ outcome: 'confirmed', identity: { email: identity.email } });
      const billingUserId = outcome.outcome === 'confirmed' ? outcome.billingUserId : -1;
      await env.sleep('1h');
      expect(await handle.query(billingLoginStepQuery)).toBe('awaiting_login');
      expect(await handle.result()).toEqual({ outcome: 'expired', billingUserId });
      // The billing user stays: the next login goes straight to confirm-login.
      expect(await deps.db.remoteRealmBillingUser.count({ where: { id: billingUserId } })).toBe(1);
    });
  });

  it('refuses a login confirmation before the email is confirmed, and a second use of a link', async () => {
    const identity = await seedRealmUser(deps);
    await withWorker(async () => {
      const handle = await startLogin(env.client, taskQueue, identity);
      const details = { fullName: 'X', enableMajorReleaseEmails: true, enableMaintenanceReleaseEmails: true, acceptedTosVersion: '1.0' };
      await expect(handle.executeUpdate(confirmLoginUpdate, { args: [details] })).rejects.toThrow('Workflow Update failed');
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.1' }] });
      const key = keyFromLink(linkIn(await waitForEmail(identity.email, 'Confirm email for plan management'), 'http'));
      expect((await handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(key) }] })).outcome).toBe('confirmed');
      expect((await handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(key) }] })).outcome).toBe('used');
      expect((await handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey('forged') }] })).outcome).toBe('unknown');
      const done = await handle.executeUpdate(confirmLoginUpdate, { args: [details] });
      expect(await handle.result()).toEqual({ outcome: 'logged_in', billingUserId: done.billingUserId });
    });
  });

  it('an organization deregistered under a login: the click is refused as "login ended", a refusal the step returns, not its failure', async () => {
    const identity = await seedRealmUser(deps);
    await withWorker(async () => {
      const handle = await startLogin(env.client, taskQueue, identity);
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.90' }] });
      const key = keyFromLink(linkIn(await waitForEmail(identity.email, 'Confirm email for plan management'), 'http'));
      await deps.db.remoteRealm.delete({ where: { uuid: identity.realmUuid! } });
      const refused = await handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(key) }] }).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      // Raised by the workflow from its failure table: no step failed, so the worker logs no failure.
      expect((refused as WorkflowUpdateFailedError).cause).toBeInstanceOf(ApplicationFailure);
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: BillingFailure.billingUserNotFound.type, message: `Organization ${identity.realmUuid} is not registered.` });
      const { events } = await handle.fetchHistory();
      expect(events!.filter((e) => e.activityTaskFailedEventAttributes || e.markerRecordedEventAttributes?.failure)).toEqual([]);
      expect(await handle.query(billingLoginStepQuery)).toBe('awaiting_email_confirmation');
    });
  });

  describe('a confirm-login and the login deadline, in either order: the outcome and FlowStep agree', () => {
    // A server of their own: time is skipped only while nothing else runs on it.
    let harness: TimeSkippingHarness;
    let env: TestWorkflowEnvironment;
    let taskQueue: string;
    const withWorker = (fn: () => Promise<void>) => harness.withWorker(fn);
    beforeAll(async () => {
      harness = await startTimeSkipping('billing-order');
      ({ env, taskQueue } = harness);
    });
    afterAll(() => harness?.teardown());
    const details = { fullName: 'Last Minute', enableMajorReleaseEmails: true, enableMaintenanceReleaseEmails: true, acceptedTosVersion: '1.0' };

    /** A login with a confirmed email, 5 s before its 2 h login deadline. */
    async function confirmedLogin() {
      const identity = await seedRealmUser(deps);
      const handle = await startLogin(env.client, taskQueue, identity);
      await handle.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: identity.email, ip: '192.0.2.9' }] });
      const key = keyFromLink(linkIn(await waitForEmail(identity.email, 'Confirm email for plan management'), 'http'));
      await handle.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(key) }] });
      await env.sleep('7195s');
      return handle;
    }

    it('the form first, still being recorded when the deadline passes: logged in', async () => {
      let release = () => undefined as void;
      const held = new Promise<void>((r) => (release = r));
      const real = createBillingActivities(deps);
      await harness.withWorker(
        async () => {
          const handle = await confirmedLogin();
          const finishing = await handle.startUpdate(confirmLoginUpdate, { args: [details], waitForStage: WorkflowUpdateStage.ACCEPTED });
          await env.sleep('8s'); // the deadline passes while the login is being recorded
          release();
          const { billingUserId } = await finishing.result();
          expect(await handle.result()).toEqual({ outcome: 'logged_in', billingUserId });
          expect(await handle.query(billingLoginStepQuery)).toBe('logged_in');
        },
        { recordBillingLogin: async (input) => (await held, real.recordBillingLogin(input)) },
      );
    }, 180_000);

    it('the deadline first: the form is refused, and the login expired', async () => {
      await withWorker(async () => {
        const handle = await confirmedLogin();
        await env.sleep('8s');
        expect(await handle.result()).toMatchObject({ outcome: 'expired' });
        expect(await handle.query(billingLoginStepQuery)).toBe('expired');
        await expect(handle.executeUpdate(confirmLoginUpdate, { args: [details] })).rejects.toThrow();
      });
    });
  });
});
