// The free trial's paths, recorded as histories (npm run record-histories):
// each registration sent as the API sends it, with Update-with-Start.
import { randomUUID } from 'node:crypto';
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import { hashPassword } from '../../src/shared/auth';
import { hashKey } from '../../src/shared/tokens';
import { passwordFingerprint } from '../../src/domain/trial';
import {
  chooseNewPasswordUpdate,
  completeTrialUpdate,
  createTrialAccountUpdate,
  extendTrialUpdate,
  passwordResetWorkflowId,
  requestPasswordResetUpdate,
  requestVerificationEmailUpdate,
  trialSearchAttributes,
  trialStateQuery,
  trialWorkflowId,
  verifyTokenUpdate,
} from '../../src/workflows/trial/messages';
import { startTimeSkipping, TimeSkippingHarness } from '../support/timeSkipping';
import { saveHistory } from '../support/histories';
import { emailsTo, linkIn, uniqueEmail, waitForEmail, waitForEmails } from '../support/mailbox';

const DAY = 86_400_000;

/** A registration, as the API sends it: the trial's first request travels with its start. */
export async function register(client: Client, taskQueue: string, email: string) {
  const start = new WithStartWorkflowOperation('trialWorkflow', {
    workflowId: trialWorkflowId(email),
    taskQueue,
    args: [{ email, firstName: '', lastName: '', company: 'Replay', verificationTtlMs: 7 * DAY, trialLengthMs: 14 * DAY, reminderBeforeMs: 3 * DAY, mailOnRequest: true, priorMailTimes: [] }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: trialSearchAttributes(email, 'awaiting_verification', Date.now() + 7 * 86_400_000),
  });
  await client.workflow.executeUpdateWithStart(requestVerificationEmailUpdate, { args: [{}], startWorkflowOperation: start });
  return start.workflowHandle();
}

export async function recordTrialHistories(): Promise<void> {
  const harness = await startTimeSkipping('trial-record');
  const { env, deps, taskQueue } = harness;
  const tokenHash = async (email: string) => hashKey(new URL(linkIn(await waitForEmail(email, /Verify your email/), `${deps.config.publicUrl}/trial/register?token=`)).searchParams.get('token')!);
  /** Registers, verifies and creates the account; the trial then goes on in a new run. */
  const activeTrial = async (email: string) => {
    const first = await register(env.client, taskQueue, email);
    const firstRunId = (await first.describe()).runId;
    const hash = await tokenHash(email);
    await first.executeUpdate(verifyTokenUpdate, { args: [{ tokenHash: hash }] });
    await first.executeUpdate(createTrialAccountUpdate, { args: [{ tokenHash: hash, passwordHash: await hashPassword('Replay-pass-1!') }] });
    // The registration's run continues as new: the trial goes on in the next run.
    const trial = env.client.workflow.getHandle(trialWorkflowId(email));
    for (let i = 0; (await trial.describe()).runId === firstRunId; i++) {
      if (i > 400) throw new Error('the trial did not continue in a new run');
      await new Promise((r) => setTimeout(r, 50));
    }
    return { first: env.client.workflow.getHandle(trialWorkflowId(email), firstRunId, { followRuns: false }), trial };
  };
  const untilStatus = async (handle: ReturnType<Client['workflow']['getHandle']>, status: string) => {
    for (let i = 0; (await handle.query(trialStateQuery)).status !== status; i++) {
      if (i > 400) throw new Error(`the trial did not become ${status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  try {
    await harness.withWorker(async () => {
      // Registered twice (a re-sent mail), never verified.
      const unverified = uniqueEmail('replay-unverified');
      const h1 = await register(env.client, taskQueue, unverified);
      await register(env.client, taskQueue, unverified);
      await waitForEmails(unverified, /Verify your email/, 2);
      expect(await h1.result()).toBe('unverified');
      await saveHistory('trial', 'unverified', h1);

      // Verified, account created: the registration's run continues as the trial's; reminded, expired, never revived.
      const expiredEmail = uniqueEmail('replay-expired');
      const expired = await activeTrial(expiredEmail);
      await saveHistory('trial', 'account-created', expired.first);
      expect(await expired.trial.result()).toBe('expired');
      await saveHistory('trial', 'expired', expired.trial);

      // Extended while active, expired, revived by extend, converted.
      const converted = await activeTrial(uniqueEmail('replay-converted'));
      await converted.trial.executeUpdate(extendTrialUpdate, { args: [{ days: 2 }] });
      await env.sleep(17 * DAY);
      await untilStatus(converted.trial, 'expired');
      await converted.trial.executeUpdate(extendTrialUpdate, { args: [{ days: 3 }] });
      await converted.trial.executeUpdate(completeTrialUpdate, { args: [] });
      expect(await converted.trial.result()).toBe('converted');
      await saveHistory('trial', 'extended-converted', converted.trial);

      // Registering again while the trial runs: "welcome back" from the running trial.
      const runningEmail = uniqueEmail('replay-running');
      const running = await activeTrial(runningEmail);
      await register(env.client, taskQueue, runningEmail);
      await waitForEmail(runningEmail, /Welcome back/);
      await running.trial.executeUpdate(completeTrialUpdate, { args: [] });
      expect(await running.trial.result()).toBe('converted');
      await saveHistory('trial', 'welcome-back-while-running', running.trial);

      // An address with an account from another flow: "welcome back", no trial.
      const known = uniqueEmail('replay-known');
      const account = await deps.db.account.create({ data: { email: known, username: known, passwordHash: await hashPassword('Known-pass-1!') } });
      const welcome = await register(env.client, taskQueue, known);
      expect(await welcome.result()).toBe('existing_account');
      await saveHistory('trial', 'welcome-back', welcome);

      // A password reset: the mail, then the new password behind its link.
      const reset = await requestReset(env.client, taskQueue, known);
      await waitForEmail(known, /Choose a new password/);
      await reset.executeUpdate(chooseNewPasswordUpdate, { args: [{ accountId: account.id, passwordFingerprint: passwordFingerprint(account.passwordHash), passwordHash: await hashPassword('Another-pass-2!') }] });
      expect(await reset.result()).toBe('password_changed');
      await saveHistory('trial', 'password-reset', reset);

      // A reset nobody finishes lapses with its link.
      const lapsed = await requestReset(env.client, taskQueue, known);
      expect(await lapsed.result()).toBe('lapsed');
      await saveHistory('trial', 'password-reset-lapsed', lapsed);

      await recordLegacyTrialHistories(harness, known);
    });
  } finally {
    await harness.teardown();
  }
}

async function requestReset(client: Client, taskQueue: string, email: string) {
  const start = new WithStartWorkflowOperation('passwordResetWorkflow', {
    workflowId: passwordResetWorkflowId(email),
    taskQueue,
    args: [{ email, priorMailTimes: [] }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: trialSearchAttributes(email, 'password_reset', Date.now() + 3_600_000),
  });
  await client.workflow.executeUpdateWithStart(requestPasswordResetUpdate, { startWorkflowOperation: start });
  return start.workflowHandle();
}

/**
 * The workflow types no longer started (src/workflows/trial/legacy.ts), each
 * run as the versions before the trial's own workflow sent these mails
 * started it: a plain start under `trial/<email>/welcome-back` or
 * `.../password-reset`, one mail, done. Runs that those versions started
 * replay with today's code; the replay test shows it.
 */
export async function recordLegacyTrialHistories({ env, taskQueue }: TimeSkippingHarness, email: string): Promise<void> {
  const legacy = [
    ['trialWelcomeBackWorkflow', 'welcome-back', /Welcome back/],
    ['trialPasswordResetWorkflow', 'password-reset', /Choose a new password/],
  ] as const;
  for (const [workflowType, name, subject] of legacy) {
    const before = (await emailsTo(email, subject)).length;
    const handle = await env.client.workflow.start(workflowType, {
      workflowId: `${trialWorkflowId(email)}/${name}`,
      taskQueue,
      args: [{ email, requestId: randomUUID() }],
      typedSearchAttributes: trialSearchAttributes(email, name === 'welcome-back' ? 'awaiting_verification' : 'password_reset', Date.now() + 3_600_000),
    });
    await handle.result();
    await waitForEmails(email, subject, before + 1);
    await saveHistory('trial', `legacy-${name}`, handle);
  }
}
