import crypto from 'node:crypto';
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { Deps } from '../../src/deps';
import { findServer, recordAnalyticsUpload, registerServer } from '../../src/domain/billing';
import { billingLoginWorkflow } from '../../src/workflows/billing/workflow';
import { BillingIdentity, billingLoginSearchAttributes, billingLoginWorkflowId } from '../../src/workflows/billing/messages';
import { uniqueEmail } from '../support/mailbox';

/** A registered server with one realm and a user of it, written straight to the database. */
export async function seedRealmUser(deps: Deps): Promise<BillingIdentity> {
  const uuid = crypto.randomUUID();
  await registerServer(deps.db, { uuid, key: crypto.randomBytes(32).toString('hex'), hostname: 'chat.example.test', contactEmail: 'admin@example.test' });
  const realm = { uuid: crypto.randomUUID(), host: 'org.chat.example.test', name: 'Example Org' };
  await recordAnalyticsUpload(deps.db, (await findServer(deps.db, uuid))!, { realms: [realm], highestIds: { realmCount: 0, installationCount: 0, realmAuditLog: 0 } });
  return {
    kind: 'realm',
    serverUuid: uuid,
    realmUuid: realm.uuid,
    userUuid: crypto.randomUUID(),
    email: uniqueEmail('ts'),
    fullName: 'Time Skipper',
    uriScheme: 'https://',
    nextPage: null,
  };
}

export const DAY = 24 * 3600_000;
export const HOURS_2 = 2 * 3600_000;

/** The login's start as the portal makes it (same ID, search attributes, TTLs as inputs). */
function loginStart(taskQueue: string, identity: BillingIdentity, emailConfirmed: boolean) {
  return {
    taskQueue,
    workflowId: billingLoginWorkflowId(identity),
    args: [{ identity, emailConfirmed, confirmationTtlMs: DAY, loginTtlMs: HOURS_2 }] as Parameters<typeof billingLoginWorkflow>,
    typedSearchAttributes: billingLoginSearchAttributes(identity, emailConfirmed, Date.now() + DAY),
  };
}

/** Starts a login workflow alone (for tests that send its updates one by one). */
export function startLogin(client: Client, taskQueue: string, identity: BillingIdentity, emailConfirmed = false) {
  return client.workflow.start(billingLoginWorkflow, loginStart(taskQueue, identity, emailConfirmed));
}

/** Starts a login as the portal does: its first request travels with the start (Update-with-Start). */
export async function startLoginWith<Ret, Args extends unknown[]>(client: Client, taskQueue: string, identity: BillingIdentity, emailConfirmed: boolean, update: UpdateDefinition<Ret, Args>, ...args: Args) {
  const start = new WithStartWorkflowOperation(billingLoginWorkflow, { ...loginStart(taskQueue, identity, emailConfirmed), workflowIdConflictPolicy: 'USE_EXISTING' });
  const result = await (client.workflow.executeUpdateWithStart as (u: UpdateDefinition<Ret, Args>, o: object) => Promise<Ret>)(update, { args, startWorkflowOperation: start });
  return { handle: await start.workflowHandle(), result };
}

/** The key at the end of the confirmation link in a mail. */
export function keyFromLink(link: string): string {
  return link.split('/do_confirm/')[1];
}
