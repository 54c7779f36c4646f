import crypto from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Deps } from '../../src/deps';
import { findServer, recordAnalyticsUpload, registerServer } from '../../src/domain/billing';
import { billingLoginWorkflow } from '../../src/workflows/billing/workflow';
import { BillingIdentity, billingLoginWorkflowId } from '../../src/workflows/billing/messages';
import { Email, FlowKind, FlowStep, RealmUuid, ServerUuid } from '../../src/shared/searchAttributes';
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

/** Starts a login workflow as the portal does (same ID, search attributes, TTLs as inputs). */
export function startLogin(client: Client, taskQueue: string, identity: BillingIdentity, emailConfirmed = false) {
  return client.workflow.start(billingLoginWorkflow, {
    taskQueue,
    workflowId: billingLoginWorkflowId(identity),
    args: [{ identity, emailConfirmed, confirmationTtlMs: DAY, loginTtlMs: HOURS_2 }],
    typedSearchAttributes: [
      { key: FlowKind, value: 'billing-login' },
      { key: FlowStep, value: emailConfirmed ? 'awaiting_login' : 'awaiting_email_confirmation' },
      { key: Email, value: identity.email },
      { key: ServerUuid, value: identity.serverUuid },
      { key: RealmUuid, value: identity.realmUuid! },
    ],
  });
}

/** The key at the end of the confirmation link in a mail. */
export function keyFromLink(link: string): string {
  return link.split('/do_confirm/')[1];
}
