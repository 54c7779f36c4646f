import { allHandlersFinished, condition, currentUpdateInfo, patched, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { createBillingActivities } from '../../activities/billing';
import { Email, ExpiresAt, FlowStep } from '../../shared/searchAttributes';
import { described, narrate, Narration, timer } from '../narration';
import { versionedAs } from '../versioning';
import { FlowEnding, RecordedRefusals, refusal, unlessRefused } from '../../shared/failures';
import {
  BillingFailure,
  BillingLoginInput,
  BillingLoginResult,
  BillingLoginStep,
  billingLoginStepQuery,
  confirmationsInFlightQuery,
  confirmationsSettledUpdate,
  confirmEmailUpdate,
  confirmLoginUpdate,
  endLoginUpdate,
  requestConfirmationEmailUpdate,
} from './messages';

type BillingActivities = ReturnType<typeof createBillingActivities>;
/**
 * How runs recorded before the steps returned their refusals as `Refusal`s
 * recorded them, so that they replay and refuse the same way: as the steps'
 * failures, and the mail's daily limit as `{ refused: <message> }`.
 */
const RECORDED_REFUSALS: RecordedRefusals = {
  failedAs: { ConfirmationLimitReached: BillingFailure.confirmationLimitReached, BillingUserNotFound: BillingFailure.billingUserNotFound },
  returned: ({ refused }) => refusal(BillingFailure.confirmationLimitReached, refused),
};
// A person is waiting on the page: retry briefly, then let the update fail with a clear answer
// (the refusals steps of earlier workers raised as failures are not retried).
const clickRetry: RetryPolicy = { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5, nonRetryableErrorTypes: ['BillingUserNotFound', BillingFailure.confirmationLimitReached.type] };
const clickSteps = proxyActivities<BillingActivities>({ startToCloseTimeout: '30s', retry: clickRetry });
const { sendConfirmationEmail } = clickSteps;
// The short database steps of a click run as local activities: in the worker, inside the workflow task.
const localClickSteps = proxyLocalActivities<BillingActivities>({ startToCloseTimeout: '10s', retry: clickRetry });

// Changes to the command sequence, each behind its patch so runs started before it replay.
const EMAIL_SEARCH_ATTRIBUTE = 'billing-email-search-attribute';
const CONFIRM_LOGIN_WAITS = 'billing-confirm-login-waits';
const OUTCOME_AFTER_HANDLERS = 'billing-outcome-after-handlers';
const EXPIRES_AT_PER_MAIL = 'billing-expires-at-per-mail';
const LOCAL_CLICK_STEPS = 'billing-local-click-steps';
const databaseSteps = () => (patched(LOCAL_CLICK_STEPS) ? localClickSteps : clickSteps);

/** Runs started before the rename carry the type `billingLogin`: the same workflow answers them. */
export { billingLoginWorkflow as billingLogin };

/**
 * One pending self-hosted billing login: confirmation mail → email confirmed
 * (within the confirmation TTL, counted from the newest mail) → confirm-login
 * form submitted (within the access-token TTL) → login recorded.
 */
export async function billingLoginWorkflow(input: BillingLoginInput): Promise<BillingLoginResult> {
  let identity = input.identity;
  // Set before the handlers: an update that started this run is validated against it at once.
  let step: BillingLoginStep = input.emailConfirmed ? 'awaiting_login' : 'awaiting_email_confirmation';
  let billingUserId: number | null = null;
  let mailsSent = 0;
  let confirmationDeadline = Date.now() + input.confirmationTtlMs;
  let loginDeadline = Date.now() + input.loginTtlMs;
  let confirmationsInFlight = 0;
  // Set once the outcome is being decided: no request is taken any more.
  let ending = false;
  const refuseOnceEnded = () => {
    // A login that has ended (logged in or expired) is closing: the same request starts a new one.
    if (ending || step === 'logged_in' || step === 'expired') throw refusal(FlowEnding, 'This login has ended.');
  };

  let endedByOperator = false;
  const deadline = () => (step === 'awaiting_email_confirmation' ? confirmationDeadline : step === 'awaiting_login' ? loginDeadline : null);
  function setStep(next: BillingLoginStep): void {
    step = next;
    const until = deadline();
    upsertSearchAttributes([
      { key: FlowStep, value: next },
      { key: ExpiresAt, value: until === null ? null : new Date(until) },
    ]);
    narrate(narration());
  }

  const RESEND = { update: 'requestConfirmationEmail', input: '{"email": "...", "ip": "operator"}', does: 'mail a fresh confirmation link (within the daily limits)' };
  const END = { update: 'endLogin', input: '{"reason": "..."}', does: 'end the login now; its links stop working' };
  /** What the Web UI shows for the current step. */
  function narration(): Narration {
    const who = identity.email;
    switch (step) {
      case 'awaiting_email_confirmation':
        return {
          step: mailsSent ? 'Waiting for the email address to be confirmed' : 'Waiting for the person to ask for a confirmation mail',
          waitingFor: mailsSent ? `${who} to open the confirmation link` : `${who} to submit the email form`,
          until: { at: confirmationDeadline, then: 'the login expires' },
          operatorActions: [RESEND, END],
        };
      case 'awaiting_login':
        return { step: 'Email confirmed: waiting for the confirm-login form', waitingFor: `${who} to confirm the login (name, release emails, terms of service)`, until: { at: loginDeadline, then: 'the login expires' }, operatorActions: [END] };
      case 'logged_in':
        return { step: 'Logged in to plan management' };
      default:
        return { step: endedByOperator ? 'Ended by an operator' : 'Expired before the login was confirmed' };
    }
  }

  setHandler(billingLoginStepQuery, () => step, { description: 'The step the login is at.' });
  // A link click cut off by a restart is still being confirmed: the reloaded page waits (polling) until none is.
  setHandler(confirmationsInFlightQuery, () => confirmationsInFlight, { description: 'Confirmation links being processed right now.' });
  // Asked by pages of earlier versions; kept so their recorded runs replay.
  setHandler(
    confirmationsSettledUpdate,
    async () => {
      await condition(() => confirmationsInFlight === 0);
      return step;
    },
    { description: 'Waits until no confirmation link is being processed (asked by earlier versions of the pages).' },
  );

  setHandler(
    requestConfirmationEmailUpdate,
    async ({ email, ip }) => {
      const sequence = ++mailsSent;
      // Operators find the login by the address the mail went to; runs started before this command existed keep their sequence.
      if (email.toLowerCase() !== identity.email.toLowerCase() && patched(EMAIL_SEARCH_ATTRIBUTE)) upsertSearchAttributes([{ key: Email, value: email.toLowerCase() }]);
      // Each new mail gives the person the full confirmation time again.
      const expiresAt = Date.now() + input.confirmationTtlMs;
      confirmationDeadline = expiresAt;
      // The new deadline, for "what expires soon"; runs started before keep their sequence.
      if (step === 'awaiting_email_confirmation' && patched(EXPIRES_AT_PER_MAIL)) upsertSearchAttributes([{ key: ExpiresAt, value: new Date(expiresAt) }]);
      const { workflowId, runId } = workflowInfo();
      // The daily limits, checked again where the mail is recorded: the person gets the reason, the login goes on.
      const sent = described(sendConfirmationEmail, `send confirmation mail to ${email}`, { workflowId, runId, identity, email, ip, sequence, expiresAt }).then((answer) => {
        if (step === 'awaiting_email_confirmation') narrate(narration());
        return answer;
      });
      await unlessRefused(sent, BillingFailure, RECORDED_REFUSALS);
      return { email, expiresAt };
    },
    // Also after confirmation: a person who lost the page may ask for a fresh link.
    {
      description: 'Mails a (fresh) confirmation link; each gives the full confirmation time again. Operators send {"email": "...", "ip": "operator"}.',
      validator: ({ email }) => {
        refuseOnceEnded();
        if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) throw refusal(BillingFailure.invalidInput, 'Give the "email" address to mail the link to.');
      },
    },
  );

  setHandler(
    confirmEmailUpdate,
    async ({ keyHash }) => {
      confirmationsInFlight++;
      try {
        // The run and the update (keyed by the link) make a retried claim recognise its own earlier success,
        // while a later login's run finds the link used.
        const claim = await described(databaseSteps().claimConfirmation, 'claim the confirmation link', { keyHash, claimId: `${workflowInfo().runId}/${currentUpdateInfo()!.id}` });
        if (claim.outcome !== 'confirmed') return { outcome: claim.outcome };
        // Several links may be out: whichever is used first creates the billing user, later ones find it.
        identity = { ...identity, email: claim.email };
        billingUserId = await unlessRefused(described(databaseSteps().recordConfirmedBillingUser, `record the confirmed billing user ${claim.email}`, { identity }), BillingFailure, RECORDED_REFUSALS);
        loginDeadline = Date.now() + input.loginTtlMs;
        if (step === 'awaiting_email_confirmation') setStep('awaiting_login');
        return { outcome: 'confirmed', identity, billingUserId };
      } finally {
        confirmationsInFlight--;
      }
    },
    { description: 'The link from the confirmation mail was opened: claims it once and records the billing user.', validator: (_confirmation) => refuseOnceEnded() },
  );

  const notAwaitingLogin = () => refusal(BillingFailure.notAwaitingLogin, 'Confirm your email address with the link from the confirmation email first.');
  setHandler(
    confirmLoginUpdate,
    async (details) => {
      // The billing user may exist (and the form be shown) a moment before its confirmation has finished here.
      // Runs started before this wait recorded the login at once.
      if (confirmationsInFlight > 0 && patched(CONFIRM_LOGIN_WAITS)) {
        await condition(() => confirmationsInFlight === 0);
        if (step !== 'awaiting_login') throw notAwaitingLogin();
      }
      billingUserId = await unlessRefused(described(databaseSteps().recordBillingLogin, 'record the login (name, release emails, terms of service)', { identity, ...details }), BillingFailure, RECORDED_REFUSALS);
      setStep('logged_in');
      return { billingUserId, identity };
    },
    {
      description: 'The confirm-login form: full name, release emails, terms of service; records the login.',
      validator: (_details) => {
        refuseOnceEnded();
        if (step !== 'awaiting_login' && !(step === 'awaiting_email_confirmation' && confirmationsInFlight > 0)) throw notAwaitingLogin();
      },
    },
  );

  setHandler(
    endLoginUpdate,
    () => {
      endedByOperator = true;
      return { ending: 'The login ends now as expired; its links and the confirm-login form no longer work.' };
    },
    {
      description: 'Operator: end the login now (as expired). Input {"reason": "..."}.',
      validator: ({ reason }) => {
        refuseOnceEnded();
        if (endedByOperator) throw refusal(FlowEnding, 'This login is already ending.');
        if (typeof reason !== 'string' || !reason.trim()) throw refusal(BillingFailure.invalidInput, 'Give a "reason" for the record.');
      },
    },
  );

  async function awaitEmailConfirmation(): Promise<boolean> {
    for (;;) {
      const deadline = confirmationDeadline;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return step !== 'awaiting_email_confirmation';
      // Wake on confirmation, or when a new mail moved the deadline.
      await condition(() => step !== 'awaiting_email_confirmation' || confirmationDeadline !== deadline || endedByOperator, remaining, timer('confirmation link expires'));
      if (endedByOperator) return false;
      if (step !== 'awaiting_email_confirmation') return true;
    }
  }

  async function awaitLoginConfirmation(): Promise<boolean> {
    for (;;) {
      const deadline = loginDeadline;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return step === 'logged_in';
      await condition(() => step === 'logged_in' || loginDeadline !== deadline || endedByOperator, remaining, timer('login must be confirmed'));
      if (step === 'logged_in') return true;
      if (endedByOperator) return false;
    }
  }

  /** The end: a request already under way finishes first, and the outcome is what it leaves, so result and FlowStep agree. */
  async function finish(deadlinePassed: boolean): Promise<BillingLoginResult> {
    if (patched(OUTCOME_AFTER_HANDLERS)) {
      ending = true;
      await condition(allHandlersFinished);
      if (step !== 'logged_in') setStep('expired');
      return { outcome: step === 'logged_in' ? 'logged_in' : 'expired', billingUserId };
    }
    // Runs started before decided first, then let running updates finish.
    if (deadlinePassed) setStep('expired');
    await condition(allHandlersFinished);
    return { outcome: deadlinePassed ? 'expired' : 'logged_in', billingUserId };
  }

  narrate(narration());
  if (!input.emailConfirmed && !(await awaitEmailConfirmation())) return finish(true);
  if (!(await awaitLoginConfirmation())) return finish(true);
  return finish(false);
}

// A login lasts at most a day: it finishes on the worker version that started it.
versionedAs('PINNED', billingLoginWorkflow);
