// Worker Deployments: a versioned worker runs each flow with its versioning
// behaviour, short billing logins pinned to the version that started them,
// long trials moving to the current version.
import { WithStartWorkflowOperation } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startService, TestService } from './support/service';
import { uniqueEmail } from './support/mailbox';
import { seedRealmUser } from './billing/workflowSupport';
import { billingLoginSearchAttributes, billingLoginWorkflowId, requestConfirmationEmailUpdate } from '../src/workflows/billing/messages';
import { requestVerificationEmailUpdate, trialSearchAttributes, trialWorkflowId } from '../src/workflows/trial/messages';

const { VersioningBehavior } = temporal.api.enums.v1;

describe('worker versioning', () => {
  let service: TestService;
  const deploymentName = `flowgate-test-${process.pid}`;
  const buildId = `build-${Date.now().toString(36)}`;

  beforeAll(async () => {
    service = await startService({ WORKER_DEPLOYMENT_NAME: deploymentName, WORKER_BUILD_ID: buildId });
    // A new version takes work once it is made current, as the deploy steps do.
    const namespace = service.config.temporal.namespace;
    for (let attempt = 0; ; attempt++) {
      try {
        await service.temporal.workflowService.setWorkerDeploymentCurrentVersion({ namespace, deploymentName, buildId });
        break;
      } catch (err) {
        // The version exists once the worker has polled with it.
        if (attempt > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  afterAll(() => service?.stop());

  async function behaviourOf(workflowId: string) {
    const { raw } = await service.temporal.workflow.getHandle(workflowId).describe();
    return raw.workflowExecutionInfo?.versioningInfo?.behavior;
  }

  it('pins a billing login and lets a trial move to new versions', async () => {
    const identity = await seedRealmUser(service.deps);
    const taskQueue = service.config.temporal.taskQueue;
    await service.temporal.workflow.executeUpdateWithStart(requestConfirmationEmailUpdate, {
      args: [{ email: identity.email, ip: '192.0.2.44' }],
      startWorkflowOperation: new WithStartWorkflowOperation('billingLoginWorkflow', {
        workflowId: billingLoginWorkflowId(identity),
        taskQueue,
        args: [{ identity, emailConfirmed: false, confirmationTtlMs: 3600_000, loginTtlMs: 3600_000 }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        typedSearchAttributes: billingLoginSearchAttributes(identity, false, Date.now() + 3600_000),
      }),
    });
    const email = uniqueEmail('versioned');
    await service.temporal.workflow.executeUpdateWithStart(requestVerificationEmailUpdate, {
      args: [{}],
      startWorkflowOperation: new WithStartWorkflowOperation('trialWorkflow', {
        workflowId: trialWorkflowId(email),
        taskQueue,
        args: [{ email, firstName: '', lastName: '', company: '', verificationTtlMs: 3600_000, trialLengthMs: 3600_000, reminderBeforeMs: 60_000, mailOnRequest: true }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        typedSearchAttributes: trialSearchAttributes(email, 'awaiting_verification', Date.now() + 7 * 86_400_000),
      }),
    });
    expect(await behaviourOf(billingLoginWorkflowId(identity))).toBe(VersioningBehavior.VERSIONING_BEHAVIOR_PINNED);
    expect(await behaviourOf(trialWorkflowId(email))).toBe(VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE);
  });
});
