import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';
import { createTimeSkippingEnv } from '../support/timeSkipping';
import { HISTORY_DIR, loadHistories, recording, saveHistory, replayHistories } from '../support/histories';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { loadConfig } from '../../src/config';
import { connectDb, createDeps } from '../../src/deps';
import { createActivities } from '../../src/activities';
import { hashKey } from '../../src/shared/tokens';
import { trialWorkflow } from '../../src/workflows/trial/workflow';
import { completeTrialUpdate, createTrialAccountUpdate, extendTrialUpdate, requestVerificationEmailUpdate, trialSearchAttributes, trialStateQuery, verifyTokenUpdate } from '../../src/workflows/trial/messages';

const DAY = 86_400_000;
/** The main paths of the flow; each has a recorded history. */
const PATHS = ['trial-unverified', 'trial-expired', 'trial-extended-converted'];

/** Runs the main paths on the time-skipping server with real activities and saves their histories. */
async function recordHistories(): Promise<void> {
  const env = await createTimeSkippingEnv();
  const deps = createDeps(loadConfig(), await connectDb(process.env.DATABASE_URL!), process.env.SMTP_URL!);
  const taskQueue = `trial-record-${process.pid}`;
  const start = (email: string) =>
    env.client.workflow.start(trialWorkflow, {
      workflowId: `trial/${email}`,
      taskQueue,
      args: [{ email, firstName: '', lastName: '', company: 'Replay', verificationTtlMs: 7 * DAY, trialLengthMs: 14 * DAY, reminderBeforeMs: 3 * DAY }],
      typedSearchAttributes: trialSearchAttributes(email),
    });
  const tokenHash = async (email: string) =>
    hashKey(new URL(linkIn(await waitForEmail(email, /Verify your email/), `${deps.config.publicUrl}/trial/register?token=`)).searchParams.get('token')!);
  const activate = async (handle: WorkflowHandle<typeof trialWorkflow>, email: string) => {
    const hash = await tokenHash(email);
    await handle.executeUpdate(verifyTokenUpdate, { args: [{ tokenHash: hash }] });
    await handle.executeUpdate(createTrialAccountUpdate, { args: [{ tokenHash: hash, passwordHash: 'scrypt$1$1$1$x$y' }] });
  };
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath: require.resolve('../../src/workflows'), activities: createActivities(deps) });
  try {
    await worker.runUntil(async () => {
      // Registered twice (a re-sent mail), never verified.
      const unverified = uniqueEmail('replay-unverified');
      const h1 = await start(unverified);
      await h1.executeUpdate(requestVerificationEmailUpdate, { args: [{}] });
      expect(await h1.result()).toBe('unverified');
      await saveHistory('trial-unverified', h1);

      // Verified, reminded, expired, never revived.
      const expired = uniqueEmail('replay-expired');
      const h2 = await start(expired);
      await activate(h2, expired);
      expect(await h2.result()).toBe('expired');
      await saveHistory('trial-expired', h2);

      // Verified, extended while active, expired, revived by extend, converted.
      const converted = uniqueEmail('replay-converted');
      const h3 = await start(converted);
      await activate(h3, converted);
      await h3.executeUpdate(extendTrialUpdate, { args: [{ days: 2 }] });
      await env.sleep(17 * DAY);
      for (let i = 0; (await h3.query(trialStateQuery)).status !== 'expired'; i++) {
        if (i > 400) throw new Error('the trial did not expire');
        await new Promise((r) => setTimeout(r, 50));
      }
      await h3.executeUpdate(extendTrialUpdate, { args: [{ days: 3 }] });
      await h3.executeUpdate(completeTrialUpdate, { args: [] });
      expect(await h3.result()).toBe('converted');
      await saveHistory('trial-extended-converted', h3);
    });
  } finally {
    await env.teardown();
    await deps.db.$disconnect();
    deps.mailer.close();
  }
}

/** Histories recorded before the short database steps ran as local activities: runs still in flight from then must replay. */
const BEFORE_LOCAL_ACTIVITIES = path.join(HISTORY_DIR, 'trial-before-local-activities');

async function replayFailures(histories: { name: string; history: unknown }[]): Promise<string[]> {
  // saveHistory writes the History message as protobufjs JSON; fromObject reads it back.
  const replays = histories.map(({ name, history }) => ({ workflowId: name, history: temporal.api.history.v1.History.fromObject(history as object) }));
  const failures: string[] = [];
  for await (const result of replayHistories(replays)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  return failures;
}

describe('trial workflow replay', () => {
  it('replays the recorded histories of every main path with the current code', async () => {
    if (recording) await recordHistories();
    const histories = loadHistories('trial-');
    expect(histories.map((h) => h.name).sort()).toEqual([...PATHS].sort());
    expect(await replayFailures(histories)).toEqual([]);
  });

  it('replays the histories recorded before the database steps ran as local activities', async () => {
    const files = fs.readdirSync(BEFORE_LOCAL_ACTIVITIES).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(['expired.json', 'extended-converted.json', 'unverified.json']);
    const histories = files.map((f) => ({ name: `before-local-activities/${f}`, history: JSON.parse(fs.readFileSync(path.join(BEFORE_LOCAL_ACTIVITIES, f), 'utf8')) }));
    expect(await replayFailures(histories)).toEqual([]);
  });
});
