import { WorkflowUpdateStage } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { hashKey } from '../../src/shared/tokens';
import { confirmEmailUpdate, confirmLoginUpdate, requestConfirmationEmailUpdate } from '../../src/workflows/billing/messages';
import { startTimeSkipping } from '../support/timeSkipping';
import { loadHistories, recording, saveHistory, replayHistories } from '../support/histories';
import { linkIn, waitForEmail } from '../support/mailbox';
import { keyFromLink, seedRealmUser, startLogin } from './workflowSupport';

/** The main paths of a billing login, each recorded as one history. */
const PATHS = ['billing-first-login', 'billing-returning-login', 'billing-expired', 'billing-login-during-confirmation'];
const details = { fullName: 'Replay', enableMajorReleaseEmails: true, enableMaintenanceReleaseEmails: false, acceptedTosVersion: '1.0' };

describe('billing login workflow replay', () => {
  // Recording runs only on demand (npm run record-histories); a normal run replays the committed files.
  if (recording) it('records the main paths on the time-skipping server', async () => {
    const harness = await startTimeSkipping('billing-record');
    const { env, deps, taskQueue } = harness;
    try {
      await harness.withWorker(async () => {
        const first = await seedRealmUser(deps);
        const firstLogin = await startLogin(env.client, taskQueue, first);
        await firstLogin.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: first.email, ip: '192.0.2.1' }] });
        const key = keyFromLink(linkIn(await waitForEmail(first.email, 'Confirm email for plan management'), 'http'));
        await firstLogin.executeUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(key) }] });
        await firstLogin.executeUpdate(confirmLoginUpdate, { args: [details] });
        await firstLogin.result();
        await saveHistory('billing-first-login', firstLogin);

        const returning = await startLogin(env.client, taskQueue, first, true);
        await returning.executeUpdate(confirmLoginUpdate, { args: [{ ...details, acceptedTosVersion: null }] });
        await returning.result();
        await saveHistory('billing-returning-login', returning);

        const late = await seedRealmUser(deps);
        const expired = await startLogin(env.client, taskQueue, late);
        await expired.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: late.email, ip: '192.0.2.1' }] });
        await expired.result();
        await saveHistory('billing-expired', expired);

        // The confirm-login form posted while the email confirmation is still being recorded: it waits for it.
        const early = await seedRealmUser(deps);
        const during = await startLogin(env.client, taskQueue, early);
        await during.executeUpdate(requestConfirmationEmailUpdate, { args: [{ email: early.email, ip: '192.0.2.1' }] });
        const earlyKey = keyFromLink(linkIn(await waitForEmail(early.email, 'Confirm email for plan management'), 'http'));
        const confirming = await during.startUpdate(confirmEmailUpdate, { args: [{ keyHash: hashKey(earlyKey) }], waitForStage: WorkflowUpdateStage.ACCEPTED });
        await during.executeUpdate(confirmLoginUpdate, { args: [details] });
        await confirming.result();
        await during.result();
        await saveHistory('billing-login-during-confirmation', during);
      });
    } finally {
      await harness.teardown();
    }
  });

  it('replays every recorded history with the current workflow code', async () => {
    const histories = loadHistories('billing-');
    expect(histories.map((h) => h.name).sort()).toEqual(expect.arrayContaining(PATHS));
    // saveHistory writes the History message as protobufjs JSON; fromObject reads it back.
    const replays = histories.map(({ name, history }) => ({ workflowId: name, history: temporal.api.history.v1.History.fromObject(history as object) }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of replayHistories(replays)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(histories.length);
  });
});
