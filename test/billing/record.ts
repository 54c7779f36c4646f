// The billing login's paths, recorded as histories (npm run record-histories):
// each run started as the portal starts it, with Update-with-Start.
import crypto from 'node:crypto';
import { WorkflowUpdateStage } from '@temporalio/client';
import { hashKey } from '../../src/shared/tokens';
import { findServer, registerServer } from '../../src/domain/billing';
import { createBillingActivities } from '../../src/activities/billing';
import { BillingIdentity, confirmEmailUpdate, confirmLoginUpdate, requestConfirmationEmailUpdate } from '../../src/workflows/billing/messages';
import { startTimeSkipping } from '../support/timeSkipping';
import { saveHistory } from '../support/histories';
import { linkIn, uniqueEmail, waitForEmails } from '../support/mailbox';
import { keyFromLink, seedRealmUser, startLoginWith } from './workflowSupport';

const SUBJECT = 'Confirm email for plan management';
const details = { fullName: 'Replay', enableMajorReleaseEmails: true, enableMaintenanceReleaseEmails: false, acceptedTosVersion: '1.0' };

export async function recordBillingHistories(): Promise<void> {
  const harness = await startTimeSkipping('billing-record');
  const { env, deps, taskQueue } = harness;
  // Documentation addresses, unique per run: the per-IP daily limit counts earlier runs' mails in the same database.
  const ip = () => `2001:db8::${crypto.randomBytes(2).toString('hex')}:${crypto.randomBytes(2).toString('hex')}`;
  const keyOfMail = async (email: string, count = 1) => hashKey(keyFromLink(linkIn((await waitForEmails(email, SUBJECT, count))[count - 1], 'http')));
  const login = (identity: BillingIdentity, confirmed = false) => ({
    request: (email = identity.email, from = ip()) => startLoginWith(env.client, taskQueue, identity, confirmed, requestConfirmationEmailUpdate, { email, ip: from }),
    confirm: (keyHash: string) => startLoginWith(env.client, taskQueue, identity, confirmed, confirmEmailUpdate, { keyHash }),
    finish: (tos: string | null = '1.0') => startLoginWith(env.client, taskQueue, identity, true, confirmLoginUpdate, { ...details, acceptedTosVersion: tos }),
  });

  try {
    await harness.withWorker(async () => {
      // Mail, link, confirm-login.
      const first = await seedRealmUser(deps);
      const firstLogin = login(first);
      const { handle } = await firstLogin.request();
      await firstLogin.confirm(await keyOfMail(first.email));
      await firstLogin.finish();
      await handle.result();
      await saveHistory('billing', 'first-login', handle);

      // The same user again: straight to confirm-login; the old link is used.
      const returning = await login(first, true).finish(null);
      await returning.handle.result();
      await saveHistory('billing', 'returning-login', returning.handle);
      const usedLink = await login(first).confirm(await keyOfMail(first.email));
      expect(usedLink.result).toEqual({ outcome: 'used' });
      await env.sleep('25h');
      await usedLink.handle.result();
      await saveHistory('billing', 'used-link', usedLink.handle);

      // Nobody clicks: expired.
      const late = await seedRealmUser(deps);
      const expired = await login(late).request();
      await expired.handle.result();
      await saveHistory('billing', 'expired', expired.handle);

      // A second mail re-arms the confirmation timer; the second link is used.
      const again = await seedRealmUser(deps);
      const againLogin = login(again);
      const second = await againLogin.request();
      await env.sleep('20h');
      await againLogin.request();
      await againLogin.confirm(await keyOfMail(again.email, 2));
      await againLogin.finish();
      await second.handle.result();
      await saveHistory('billing', 'second-mail', second.handle);

      // The person corrects the address on the email form: the mail goes elsewhere, and operators find it by that address.
      const corrected = await seedRealmUser(deps);
      const correctedLogin = login(corrected);
      const other = uniqueEmail('corrected');
      const diff = await correctedLogin.request(other);
      await correctedLogin.confirm(await keyOfMail(other));
      await correctedLogin.finish();
      await diff.handle.result();
      await saveHistory('billing', 'different-email', diff.handle);

      // The legacy, server-wide login.
      const server = await seedServerUser(deps);
      const serverLogin = login(server);
      const serverRun = await serverLogin.request();
      await serverLogin.confirm(await keyOfMail(server.email));
      await serverLogin.finish();
      await serverRun.handle.result();
      await saveHistory('billing', 'server-login', serverRun.handle);

      // Zulip's limit of 5 mails per IP address and day, reached inside the flow: the sixth request is refused.
      const limited = await seedRealmUser(deps);
      const limitedLogin = login(limited);
      const from = ip();
      let limitedRun;
      for (let i = 0; i < 5; i++) limitedRun = await limitedLogin.request(limited.email, from);
      await expect(limitedLogin.request(limited.email, from)).rejects.toThrow();
      await env.sleep('25h');
      await limitedRun!.handle.result();
      await saveHistory('billing', 'confirmation-limit', limitedRun!.handle);
    });

    // The confirm-login form posted while the email confirmation is still being recorded: it waits for it.
    const early = await seedRealmUser(deps);
    let release = () => undefined as void;
    const held = new Promise<void>((r) => (release = r));
    const real = createBillingActivities(deps);
    await harness.withWorker(
      async () => {
        const { handle } = await login(early).request();
        const key = await keyOfMail(early.email);
        const confirming = await handle.startUpdate(confirmEmailUpdate, { args: [{ keyHash: key }], waitForStage: WorkflowUpdateStage.ACCEPTED });
        const finishing = await handle.startUpdate(confirmLoginUpdate, { args: [details], waitForStage: WorkflowUpdateStage.ACCEPTED });
        release();
        await confirming.result();
        await finishing.result();
        await handle.result();
        await saveHistory('billing', 'login-during-confirmation', handle);
      },
      { recordConfirmedBillingUser: async (input) => (await held, real.recordConfirmedBillingUser(input)) },
    );

    // The confirm-login form arrives just before the login's deadline and is still being recorded when it passes:
    // the login ends logged in, and says so.
    const lastMinute = await seedRealmUser(deps);
    let releaseLogin = () => undefined as void;
    const loginHeld = new Promise<void>((r) => (releaseLogin = r));
    await harness.withWorker(
      async () => {
        const flow = login(lastMinute);
        const { handle } = await flow.request();
        await flow.confirm(await keyOfMail(lastMinute.email));
        // 10 s before the deadline; the recording is held for 20 s (less than its activity timeout).
        await env.sleep('7190s');
        const finishing = await handle.startUpdate(confirmLoginUpdate, { args: [details], waitForStage: WorkflowUpdateStage.ACCEPTED });
        await env.sleep('20s');
        releaseLogin();
        await finishing.result();
        expect(await handle.result()).toMatchObject({ outcome: 'logged_in' });
        await saveHistory('billing', 'login-at-expiry', handle);
      },
      { recordBillingLogin: async (input) => (await loginHeld, real.recordBillingLogin(input)) },
    );
  } finally {
    await harness.teardown();
  }
}

/** A registered server and the legacy login of one of its admins. */
export async function seedServerUser(deps: Parameters<typeof seedRealmUser>[0]): Promise<BillingIdentity> {
  const uuid = crypto.randomUUID();
  await registerServer(deps.db, { uuid, key: crypto.randomBytes(32).toString('hex'), hostname: 'chat.example.test', contactEmail: 'admin@example.test' });
  expect(await findServer(deps.db, uuid)).toBeTruthy();
  return { kind: 'server', serverUuid: uuid, realmUuid: null, userUuid: null, email: uniqueEmail('server-admin'), fullName: '', uriScheme: '', nextPage: null };
}
