// The billing login's workflow as the API reaches it: one function per
// request, each one workflow call through src/api/flows.ts. Every request
// may start the login (a link clicked after a restart, a page reloaded), so
// each is an Update-with-Start on the login's workflow ID.
import type { ApiDeps } from '../../deps';
import { flowRunning, FlowStart, keyOf, queryFlow, startOrUpdate, timeLeft, updateFlow } from '../flows';
import * as records from '../../domain/billing';
import {
  BillingFailure,
  BillingIdentity,
  billingLoginSearchAttributes,
  billingLoginDescription,
  billingLoginWorkflowId,
  confirmationsInFlightQuery,
  confirmEmailUpdate,
  confirmLoginUpdate,
  LoginConfirmation,
  requestConfirmationEmailUpdate,
} from '../../workflows/billing/messages';

/** A confirmation link as the portal read it (`records.readConfirmationLink`). */
type ConfirmationLink = Awaited<ReturnType<typeof records.readConfirmationLink>>;

export function billingFlow(deps: ApiDeps) {
  const { config } = deps;

  /** The login's workflow; a returning billing user (email confirmed before) starts at the confirm-login step. */
  const login = async (identity: BillingIdentity, emailConfirmed: boolean, updateKey?: string): Promise<FlowStart> => ({
    workflowType: 'billingLoginWorkflow',
    workflowId: billingLoginWorkflowId(identity),
    args: [{ identity, emailConfirmed, confirmationTtlMs: config.ttl.billingConfirmation, loginTtlMs: config.ttl.billingAccessToken }],
    searchAttributes: billingLoginSearchAttributes(identity, emailConfirmed, Date.now() + (emailConfirmed ? config.ttl.billingAccessToken : config.ttl.billingConfirmation)),
    description: billingLoginDescription(identity, await records.organizationName(deps.db, identity)),
    ...(updateKey ? { updateKey } : {}),
  });

  /** A link from the confirmation mail: the workflow uses it once; a reload of the same link is the same update, with its answer. */
  const confirmEmail = async (identity: BillingIdentity, keyHash: string) =>
    startOrUpdate(deps, BillingFailure, await login(identity, false, keyOf('confirm-email', keyHash)), confirmEmailUpdate, { keyHash });

  /**
   * A used confirmation link clicked again: while its login runs, the
   * answer the first click got (a reload after a lost answer); otherwise
   * undefined, and the link counts as used.
   */
  async function confirmedBefore(identity: BillingIdentity, keyHash: string) {
    const workflowId = billingLoginWorkflowId(identity);
    try {
      // Only while that login runs: once it has ended, its link is spent (a realm's link is single-use, as Zulip's).
      if (!(await flowRunning(deps, workflowId))) return undefined;
      return await updateFlow(deps, BillingFailure, workflowId, confirmEmailUpdate, [{ keyHash }], () => new Error('ended'), keyOf('confirm-email', keyHash));
    } catch {
      return undefined;
    }
  }

  return {
    /** Mails a confirmation link (again); refused by Zulip's daily limits. */
    async requestConfirmation(identity: BillingIdentity, email: string, ip: string) {
      return startOrUpdate(deps, BillingFailure, await login(identity, false), requestConfirmationEmailUpdate, { email, ip });
    },

    /**
     * A link from the confirmation mail, as read: the workflow uses it (once,
     * for a realm login), and the login it confirms is the answer; a dead
     * link (unknown, expired, used) otherwise. A used link may be this very
     * click reloaded after its answer was lost: the login still knows the
     * first answer.
     */
    async confirmByLink({ identity, keyHash, used }: ConfirmationLink): Promise<BillingIdentity> {
      const result = used ? await confirmedBefore(identity, keyHash) : await confirmEmail(identity, keyHash);
      if (!result) throw records.confirmationLinkDead('used');
      if (result.outcome !== 'confirmed') throw records.confirmationLinkDead(result.outcome);
      return result.identity;
    },

    /** The confirm-login form: details, release emails, terms of service; the same form posted again is the same update. */
    async confirmLogin(identity: BillingIdentity, details: LoginConfirmation, accessToken: string) {
      return startOrUpdate(deps, BillingFailure, await login(identity, true, keyOf('confirm-login', accessToken, JSON.stringify(details))), confirmLoginUpdate, details);
    },

    /**
     * Once any confirmation link the login is still processing has been
     * handled: a page reloaded after a restart cut off the link click then
     * shows the confirm-login step. No flow (the usual first visit) answers
     * at once; a flow waiting for its worker is waited for until the
     * request's deadline.
     */
    async confirmationsSettled(identity: BillingIdentity): Promise<void> {
      const giveUpAt = Date.now() + timeLeft(deps);
      // A query, polled: page views add nothing to the login's history.
      while (((await queryFlow(deps, billingLoginWorkflowId(identity), confirmationsInFlightQuery, [], giveUpAt - Date.now())) ?? 0) > 0) {
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
