import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createTimeSkippingEnv } from '../support/timeSkipping';
import { emailsTo, waitForEmail } from '../support/mailbox';
import { loadConfig } from '../../src/config';
import { connectDb, createDeps, Deps } from '../../src/deps';
import { createActivities } from '../../src/activities';
import { FlowStep } from '../../src/shared/searchAttributes';
import { findInvitation, invitationStatistics } from '../../src/services/invitations';
import type { accountEmailValidationWorkflow } from '../../src/workflows/invitation/workflow';
import {
  createAccount,
  emailValidationSearchAttributes,
  emailValidationWorkflowId,
  invitationState,
  requestValidationEmail,
  revokeInvitation,
  ValidationEmailRequest,
} from '../../src/workflows/invitation/messages';
import { uniqueEmail } from '../support/mailbox';
import { invitationPaths } from './paths';

const DAY = 86_400_000;
let env: TestWorkflowEnvironment;
let deps: Deps;
let paths: ReturnType<typeof invitationPaths>;
const taskQueue = `invitation-time-skipping-${process.pid}`;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  deps = createDeps(loadConfig(), await connectDb(process.env.DATABASE_URL!), process.env.SMTP_URL!);
  paths = invitationPaths(env.client, taskQueue, deps, () => env.currentTimeMs());
});

/** A worker lives for one `runUntil`, so each test gets its own, with the real activities. */
async function worker(): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../src/workflows'),
    activities: createActivities(deps),
  });
}

afterAll(async () => {
  await env?.teardown();
  await deps?.db.$disconnect();
  deps?.mailer.close();
});

describe('invitation timers on the time-skipping server', () => {
  it('expires an unanswered invitation at expiresOn, without waiting a week', async () => {
    await (await worker()).runUntil(async () => {
      const started = Date.now();
      const handle = await paths.expiredPath();
      const input = (await handle.query(invitationState)).invitation!;
      await waitForEmail(input.inviteeEmail!, /You are invited to join/);
      expect(await handle.result()).toBe('expired');
      expect(Date.now() - started).toBeLessThan(60_000);
      const row = await findInvitation(deps.db, Number(input.id));
      expect(row?.expiredOn).toBeInstanceOf(Date);
      expect((await handle.describe()).typedSearchAttributes.get(FlowStep)).toBe('expired');
      expect((await invitationStatistics(deps.db, Number(input.teamId))).expired).toBe(1);
    });
  });

  it('keeps an invitation without expiry open for a year, then revokes it', async () => {
    await (await worker()).runUntil(async () => {
      const { handle, admin } = await paths.startInvitation();
      await env.sleep(365 * DAY);
      expect((await handle.query(invitationState)).step).toBe('awaiting_invitee');
      await handle.executeUpdate(revokeInvitation, { args: [{ by: admin.id }] });
      expect(await handle.result()).toBe('revoked');
    });
  });

  it('lets a new-account email validation lapse after its 24 hours; a late account creation is refused', async () => {
    await (await worker()).runUntil(async () => {
      const email = uniqueEmail('lapse');
      const handle = await env.client.workflow.signalWithStart<typeof accountEmailValidationWorkflow, [ValidationEmailRequest]>('accountEmailValidationWorkflow', {
        workflowId: emailValidationWorkflowId(email),
        taskQueue,
        args: [{ email, ttlMs: DAY }],
        signal: requestValidationEmail,
        signalArgs: [{ firstName: 'Late', lastName: 'Comer', portalEndpoint: 'http://localhost/join/account/' }],
        typedSearchAttributes: emailValidationSearchAttributes(email),
      });
      await waitForEmail(email, 'Welcome to flowgate');
      expect(await handle.result()).toBe('lapsed');
      await expect(handle.executeUpdate(createAccount, { args: [{ username: 'too-late', firstName: 'a', lastName: 'b', passwordHash: 'x' }] })).rejects.toThrow();
      expect(await deps.db.account.findUnique({ where: { email } })).toBeNull();
      expect((await emailsTo(email)).length).toBe(1);
    });
  });
});
