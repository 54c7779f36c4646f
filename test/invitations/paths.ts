import { type Client, WithStartWorkflowOperation, type WorkflowHandle, WorkflowUpdateStage } from '@temporalio/client';
import type { Deps } from '../../src/deps';
import { hashPassword } from '../../src/shared/auth';
import { allocateInvitationId, createTeam } from '../../src/domain/invitation';
import type { accountEmailValidationWorkflow, membershipInvitationWorkflow } from '../../src/workflows/invitation/workflow';
import {
  bindInviteeUpdate,
  createValidatedAccountUpdate,
  emailValidationSearchAttributes,
  emailValidationWorkflowId,
  InvitationInput,
  invitationRecordedUpdate,
  invitationSearchAttributes,
  invitationWorkflowId,
  joinTeamUpdate,
  requestInviteeVerificationUpdate,
  requestRegistrationLinkUpdate,
  resendInvitationUpdate,
  revokeInvitationUpdate,
  ValidationEmailRequest,
} from '../../src/workflows/invitation/messages';
import { uniqueEmail } from '../support/mailbox';

const DAY = 86_400_000;

/**
 * The flow's main paths driven straight through the workflows (what the API
 * does on each click), for the time-skipping and replay tests. `now` is
 * the server's clock, which runs ahead of the wall clock once time was skipped.
 */
export function invitationPaths(client: Client, taskQueue: string, deps: Deps, now: () => Promise<number>) {
  const endpoint = 'http://localhost/join/invitation/';

  async function newAccount(tag: string, email = uniqueEmail(tag)) {
    return deps.db.account.create({
      data: { email, username: `${tag}-${Math.random().toString(36).slice(2, 10)}`, firstName: tag, lastName: 'Tester', passwordHash: await hashPassword('unused-password-1!') },
    });
  }

  /** As the API starts it: with an end, a year away unless given (`expiresOn: undefined`: a run started before every invitation had one). */
  async function startInvitation(extra: Partial<InvitationInput> = {}) {
    const admin = await newAccount('ts-admin');
    const team = await createTeam(deps.db, 'Time-skipping team', admin.id);
    const input: InvitationInput = {
      invitationId: await allocateInvitationId(deps.db),
      teamId: team.id,
      createdBy: admin.id,
      inviteeEmail: uniqueEmail('ts-invitee'),
      message: 'Join us',
      acceptInvitationEndpoint: endpoint,
      expiresOn: new Date((await now()) + 365 * DAY).toISOString(),
      ...extra,
    };
    if (input.expiresOn === undefined) delete input.expiresOn;
    // As the API starts it: the update that answers with the recorded invitation travels with the start.
    const start = new WithStartWorkflowOperation<typeof membershipInvitationWorkflow>('membershipInvitationWorkflow', {
      workflowId: invitationWorkflowId(input.invitationId),
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: invitationSearchAttributes(input),
    });
    const recorded = await client.workflow.executeUpdateWithStart(invitationRecordedUpdate, { startWorkflowOperation: start }).then(() => true, () => false);
    return { handle: await start.workflowHandle(), input, team, admin, recorded };
  }

  /** "Send registration info", as the API sends it: Update-with-Start on the address's flow. */
  async function startEmailValidation(email: string): Promise<WorkflowHandle<typeof accountEmailValidationWorkflow>> {
    const start = new WithStartWorkflowOperation<typeof accountEmailValidationWorkflow>('accountEmailValidationWorkflow', {
      workflowId: emailValidationWorkflowId(email),
      taskQueue,
      args: [{ email, ttlMs: DAY }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: emailValidationSearchAttributes(email, Date.now() + 86_400_000),
    });
    const request: ValidationEmailRequest = { firstName: 'New', lastName: 'Member', portalEndpoint: 'http://localhost/join/account/' };
    await client.workflow.executeUpdateWithStart(requestRegistrationLinkUpdate, { args: [request], startWorkflowOperation: start });
    return start.workflowHandle();
  }

  async function newAccountRequest(invitationId: number) {
    return { username: `ts-new-${Math.random().toString(36).slice(2, 10)}`, firstName: 'New', lastName: 'Member', passwordHash: await hashPassword('unused-password-1!'), invitationId };
  }

  return {
    newAccount,
    startInvitation,
    startEmailValidation,

    /** Registration with the invitation: validation mail, account created and invitation bound in one update, one-click Join. */
    async newAccountPath(): Promise<{ invitation: WorkflowHandle; validation: WorkflowHandle }> {
      const { handle, input } = await startInvitation();
      const validation = await startEmailValidation(input.inviteeEmail!);
      // The carried invitation travels with the account: the validation flow binds it.
      const { accountId, invitation } = await validation.executeUpdate(createValidatedAccountUpdate, { args: [await newAccountRequest(input.invitationId)] });
      expect(invitation?.inviteeId).toBe(String(accountId));
      await handle.executeUpdate(joinTeamUpdate, { args: [{ accountId }] });
      return { invitation: handle, validation };
    },

    /** A sign-up request repeated while the first is still creating the account and binding the invitation: answered once that is done. */
    async retriedAccountCreationPath(): Promise<WorkflowHandle> {
      const { input } = await startInvitation();
      const validation = await startEmailValidation(input.inviteeEmail!);
      const first = await validation.startUpdate(createValidatedAccountUpdate, { args: [await newAccountRequest(input.invitationId)], waitForStage: WorkflowUpdateStage.ACCEPTED });
      await expect(validation.executeUpdate(createValidatedAccountUpdate, { args: [await newAccountRequest(input.invitationId)] })).rejects.toThrow('Workflow Update failed');
      expect((await first.result()).invitation?.id).toBe(String(input.invitationId));
      return validation;
    },

    /** Sign-in path: a refused verification (mail to the invited address), then the right account verifies, binds and joins. */
    async existingAccountPath(): Promise<WorkflowHandle> {
      const { handle, input } = await startInvitation();
      const stranger = await newAccount('ts-stranger');
      const invitee = await newAccount('ts-invitee', input.inviteeEmail!.toUpperCase().replace('@EXAMPLE.TEST', '@example.test').toLowerCase());
      const portalEndpoint = 'http://localhost/join/verify/';
      await handle.executeUpdate(requestInviteeVerificationUpdate, { args: [{ accountId: stranger.id, accountEmail: stranger.email, portalEndpoint }] });
      await handle.executeUpdate(requestInviteeVerificationUpdate, { args: [{ accountId: invitee.id, accountEmail: invitee.email.toUpperCase(), portalEndpoint }] });
      await handle.executeUpdate(bindInviteeUpdate, { args: [{ inviteeId: invitee.id, via: 'existing_account' }] });
      await handle.executeUpdate(joinTeamUpdate, { args: [{ accountId: invitee.id }] });
      return handle;
    },

    async revokedPath(): Promise<WorkflowHandle> {
      const { handle, admin } = await startInvitation();
      await handle.executeUpdate(revokeInvitationUpdate, { args: [{ by: admin.id }] });
      return handle;
    },

    /** The invitee lost the mail: a team admin sends it again (twice), then withdraws the invitation. */
    async resentPath(): Promise<WorkflowHandle> {
      const { handle, admin } = await startInvitation();
      await handle.executeUpdate(resendInvitationUpdate);
      await handle.executeUpdate(resendInvitationUpdate);
      await handle.executeUpdate(revokeInvitationUpdate, { args: [{ by: admin.id }] });
      return handle;
    },

    /** An invitation to an existing account: a notice with an unsubscribe link, sent again once, then the one-click Join. */
    async accountNoticePath(): Promise<WorkflowHandle> {
      const invitee = await newAccount('ts-noticed');
      const { handle } = await startInvitation({ inviteeEmail: undefined, inviteeId: invitee.id, notificationUnsubscribeEndpoint: 'http://localhost/join/unsubscribe/' });
      await handle.executeUpdate(resendInvitationUpdate);
      await handle.executeUpdate(joinTeamUpdate, { args: [{ accountId: invitee.id }] });
      return handle;
    },

    /** Nobody answers: the durable timer at expiresOn closes the invitation. */
    async expiredPath(): Promise<WorkflowHandle> {
      const { handle } = await startInvitation({ expiresOn: new Date((await now()) + 7 * DAY).toISOString() });
      return handle;
    },
  };
}
