// The team invitation's paths, recorded as histories (npm run record-histories):
// each run started as the API starts it, with Update-with-Start.
import { createInvitationActivities } from '../../src/activities/invitation';
import { startTimeSkipping } from '../support/timeSkipping';
import { saveHistory } from '../support/histories';
import { waitForEmail } from '../support/mailbox';
import { invitationPaths } from './paths';

export async function recordInvitationHistories(): Promise<void> {
  const harness = await startTimeSkipping('invitation-record');
  const { env, deps, taskQueue } = harness;
  try {
    const paths = invitationPaths(env.client, taskQueue, deps, () => env.currentTimeMs());
    await harness.withWorker(async () => {
      const { invitation, validation } = await paths.newAccountPath();
      expect(await invitation.result()).toBe('joined');
      expect(await validation.result()).toBe('account_created');
      await saveHistory('invitation', 'new-account', invitation);
      await saveHistory('invitation', 'email-validation', validation);

      const retried = await paths.retriedAccountCreationPath();
      expect(await retried.result()).toBe('account_created');
      await saveHistory('invitation', 'email-validation-retried', retried);

      const existing = await paths.existingAccountPath();
      expect(await existing.result()).toBe('joined');
      await saveHistory('invitation', 'existing-account', existing);

      const revoked = await paths.revokedPath();
      expect(await revoked.result()).toBe('revoked');
      await saveHistory('invitation', 'revoked', revoked);

      const resent = await paths.resentPath();
      expect(await resent.result()).toBe('revoked');
      await saveHistory('invitation', 'resent', resent);

      const noticed = await paths.accountNoticePath();
      expect(await noticed.result()).toBe('joined');
      await saveHistory('invitation', 'account-notice', noticed);

      const expired = await paths.expiredPath();
      expect(await expired.result()).toBe('expired');
      await saveHistory('invitation', 'expired', expired);

      // "Send registration info" for an address that has an account: its owner gets a notice, and the flow lapses.
      const owner = await paths.newAccount('record-owner');
      const notice = await paths.startEmailValidation(owner.email);
      await waitForEmail(owner.email, /already have an account/);
      expect(await notice.result()).toBe('lapsed');
      await saveHistory('invitation', 'existing-account-notice', notice);
    });

    // Over a daily cap (here: one invitation per address): nothing is recorded or mailed, and the flow ends refused.
    const capped = createInvitationActivities({ ...deps, config: { ...deps.config, limits: { ...deps.config.limits, invitationsPerInviteePerDay: 1 } } });
    await harness.withWorker(
      async () => {
        const first = await paths.startInvitation();
        expect(first.recorded).toBe(true);
        const refused = await paths.startInvitation({ inviteeEmail: first.input.inviteeEmail });
        expect(refused.recorded).toBe(false);
        expect(await refused.handle.result()).toBe('refused');
        await saveHistory('invitation', 'refused', refused.handle);
      },
      { recordInvitation: capped.recordInvitation },
    );
  } finally {
    await harness.teardown();
  }

  // Started without expiry: it ends when its link does, INVITATION_MAX_LIFETIME after it was made. On a server of its
  // own, whose clock still agrees with the database's that dates the invitation (the one above has skipped ahead).
  const fresh = await startTimeSkipping('invitation-record-no-expiry');
  try {
    const paths = invitationPaths(fresh.env.client, fresh.taskQueue, fresh.deps, () => fresh.env.currentTimeMs());
    await fresh.withWorker(async () => {
      const { handle, input } = await paths.startInvitation({ expiresOn: undefined });
      expect(input.expiresOn).toBeUndefined();
      expect(await handle.result()).toBe('expired');
      await saveHistory('invitation', 'ended-without-expiry', handle);
    });
  } finally {
    await fresh.teardown();
  }
}
