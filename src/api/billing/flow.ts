// The billing login's workflow as the API reaches it: one function per
// request, each one workflow call through src/api/flows.ts. Every request
// may start the login (a link clicked after a restart, a page reloaded), so
// each is an Update-with-Start on the login's workflow ID.
import type { ApiDeps } from '../../deps';
import { FlowStart, startOrUpdate } from '../flows';
import { waitAtMost } from '../http';
import {
  BillingFailure,
  BillingIdentity,
  billingLoginSearchAttributes,
  billingLoginWorkflowId,
  confirmationsSettledUpdate,
  confirmEmailUpdate,
  confirmLoginUpdate,
  LoginConfirmation,
  requestConfirmationEmailUpdate,
} from '../../workflows/billing/messages';

/** How long a page waits for a confirmation link still being processed (e.g. while the worker restarts). */
const PENDING_CONFIRMATION_WAIT_MS = 20_000;

export function billingFlow(deps: ApiDeps) {
  const { config, temporal } = deps;

  /** The login's workflow; a returning billing user (email confirmed before) starts at the confirm-login step. */
  const login = (identity: BillingIdentity, emailConfirmed: boolean): FlowStart => ({
    workflowType: 'billingLoginWorkflow',
    workflowId: billingLoginWorkflowId(identity),
    args: [{ identity, emailConfirmed, confirmationTtlMs: config.ttl.billingConfirmation, loginTtlMs: config.ttl.billingAccessToken }],
    searchAttributes: billingLoginSearchAttributes(identity, emailConfirmed),
  });

  return {
    /** Mails a confirmation link (again); refused by Zulip's daily limits. */
    requestConfirmation(identity: BillingIdentity, email: string, ip: string) {
      return startOrUpdate(deps, BillingFailure, login(identity, false), requestConfirmationEmailUpdate, { email, ip });
    },

    /** A link from the confirmation mail: the workflow uses it once. */
    confirmEmail(identity: BillingIdentity, keyHash: string) {
      return startOrUpdate(deps, BillingFailure, login(identity, false), confirmEmailUpdate, { keyHash });
    },

    /** The confirm-login form: details, release emails, terms of service. */
    confirmLogin(identity: BillingIdentity, details: LoginConfirmation) {
      return startOrUpdate(deps, BillingFailure, login(identity, true), confirmLoginUpdate, details);
    },

    /**
     * Once any confirmation link the login is still processing has been
     * handled: a page reloaded after a restart cut off the link click then
     * shows the confirm-login step. No flow (the usual first visit) answers
     * at once; a flow waiting for its worker is not waited for long.
     */
    async confirmationsSettled(identity: BillingIdentity): Promise<void> {
      await waitAtMost(temporal.workflow.getHandle(billingLoginWorkflowId(identity)).executeUpdate(confirmationsSettledUpdate), PENDING_CONFIRMATION_WAIT_MS);
    },
  };
}
