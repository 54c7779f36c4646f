// Workflow types no longer started. Runs that earlier versions started keep
// their type, so these stay registered until such runs can no longer exist:
// each sends one mail and ends within seconds. (The trial's own workflow now
// sends "welcome back"; `passwordResetWorkflow` replaces the reset mail.)
import { proxyActivities } from '@temporalio/workflow';
import type { createTrialActivities } from '../../activities/trial';
import { versionedAs } from '../versioning';

const { sendWelcomeBackEmail, sendPasswordResetEmail } = proxyActivities<ReturnType<typeof createTrialActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '5 minutes' },
});

export async function trialWelcomeBackWorkflow(input: { email: string; requestId: string }): Promise<void> {
  await sendWelcomeBackEmail(input);
}

export async function trialPasswordResetWorkflow(input: { email: string; requestId: string }): Promise<void> {
  await sendPasswordResetEmail(input);
}

// Seconds long: each finishes where it started.
versionedAs('PINNED', trialWelcomeBackWorkflow);
versionedAs('PINNED', trialPasswordResetWorkflow);
