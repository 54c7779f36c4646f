import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { startTimeSkipping } from '../support/timeSkipping';
import { loadHistories, recording, saveHistory } from '../support/histories';
import { invitationPaths } from './paths';

/** Every main path of the flow has a recorded history that today's workflow code must replay without nondeterminism. */
const MAIN_PATHS = ['invitation-new-account', 'invitation-email-validation', 'invitation-existing-account', 'invitation-revoked', 'invitation-expired'];

describe('invitation workflow replay', () => {
  if (recording) {
    it('records the main paths on the time-skipping server', async () => {
      const harness = await startTimeSkipping('invitation-record');
      const { env, deps, taskQueue } = harness;
      try {
        const paths = invitationPaths(env.client, taskQueue, deps, () => env.currentTimeMs());
        await harness.withWorker(async () => {
          const { invitation, validation } = await paths.newAccountPath();
          expect(await invitation.result()).toBe('joined');
          expect(await validation.result()).toBe('account_created');
          await saveHistory('invitation-new-account', invitation);
          await saveHistory('invitation-email-validation', validation);

          const existing = await paths.existingAccountPath();
          expect(await existing.result()).toBe('joined');
          await saveHistory('invitation-existing-account', existing);

          const revoked = await paths.revokedPath();
          expect(await revoked.result()).toBe('revoked');
          await saveHistory('invitation-revoked', revoked);

          const expired = await paths.expiredPath();
          expect(await expired.result()).toBe('expired');
          await saveHistory('invitation-expired', expired);
        });
      } finally {
        await harness.teardown();
      }
    });
  }

  const histories = loadHistories('invitation-');

  it('has a recorded history for every main path', () => {
    expect(histories.map((h) => h.name).sort()).toEqual(expect.arrayContaining([...MAIN_PATHS].sort()));
  });

  it('replays every recorded history with today\'s workflow code', async () => {
    const replays = histories.map(({ name, history }) => ({ workflowId: name, history: temporal.api.history.v1.History.fromObject(history as object) }));
    const replayed: string[] = [];
    // One bundle for all histories: replaying them one by one would bundle the workflows each time.
    for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../../src/workflows') }, replays)) {
      expect({ history: result.workflowId, error: result.error }).toEqual({ history: result.workflowId, error: undefined });
      replayed.push(result.workflowId);
    }
    expect(replayed.sort()).toEqual(histories.map((h) => h.name).sort());
  });
});
