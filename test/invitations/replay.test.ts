import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startTimeSkipping } from '../support/timeSkipping';
import { HISTORY_DIR, loadHistories, recording, saveHistory, replayHistories } from '../support/histories';
import { invitationPaths } from './paths';

/** Every main path of the flow has a recorded history that today's workflow code must replay without nondeterminism. */
const MAIN_PATHS = [
  'invitation-new-account',
  'invitation-email-validation',
  'invitation-email-validation-retried',
  'invitation-existing-account',
  'invitation-revoked',
  'invitation-expired',
  'invitation-resent',
  'invitation-account-notice',
];

/** Histories recorded while the API bound the carried invitation itself: runs still in flight from then must replay. */
const BEFORE_WORKFLOW_BINDING = path.join(HISTORY_DIR, 'invitation-before-workflow-binding');

async function replayFailures(histories: { name: string; history: unknown }[]): Promise<string[]> {
  const replays = histories.map(({ name, history }) => ({ workflowId: name, history: temporal.api.history.v1.History.fromObject(history as object) }));
  const failures: string[] = [];
  let replayed = 0;
  // One bundle for all histories: replaying them one by one would bundle the workflows each time.
  for await (const result of replayHistories(replays)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    replayed++;
  }
  if (replayed !== histories.length) failures.push(`replayed ${replayed} of ${histories.length} histories`);
  return failures;
}

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

          // The paths that end in one run: its history, and the outcome it must reach.
          const runs: Array<[string, () => Promise<WorkflowHandle>, string]> = [
            ['invitation-email-validation-retried', paths.retriedAccountCreationPath, 'account_created'],
            ['invitation-existing-account', paths.existingAccountPath, 'joined'],
            ['invitation-revoked', paths.revokedPath, 'revoked'],
            ['invitation-resent', paths.resentPath, 'revoked'],
            ['invitation-account-notice', paths.accountNoticePath, 'joined'],
            ['invitation-expired', paths.expiredPath, 'expired'],
          ];
          for (const [name, run, outcome] of runs) {
            const handle = await run();
            expect(await handle.result()).toBe(outcome);
            await saveHistory(name, handle);
          }
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
    expect(await replayFailures([...histories, ...beforeWorkflowBinding()])).toEqual([]);
  });
});

function beforeWorkflowBinding(): { name: string; history: unknown }[] {
  const files = fs.readdirSync(BEFORE_WORKFLOW_BINDING).filter((f) => f.endsWith('.json')).sort();
  expect(files).toEqual(['email-validation.json', 'new-account.json']);
  return files.map((f) => ({ name: `before-workflow-binding/${f}`, history: JSON.parse(fs.readFileSync(path.join(BEFORE_WORKFLOW_BINDING, f), 'utf8')) }));
}
