import { ActivityFailure, allHandlersFinished, ApplicationFailure, condition, continueAsNew, log, patched, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes, uuid4, workflowInfo } from '@temporalio/workflow';
import type { createTrialActivities } from '../../activities/trial';
import { ExpiresAt, FlowStep, TrialEndsAt } from '../../shared/searchAttributes';
import { described, narrate, Narration, OperatorAction, timer } from '../narration';
import { versionedAs } from '../versioning';
import { FlowEnding, RecordedRefusals, refusal, unlessRefused } from '../../shared/failures';
import {
  chooseNewPasswordUpdate,
  completeTrialUpdate,
  createTrialAccountUpdate,
  CreatedTrialAccount,
  endTrialUpdate,
  extendTrialUpdate,
  MAILS_PER_HOUR,
  NewPassword,
  PASSWORD_RESET_TTL_MS,
  PasswordResetInput,
  PasswordResetStep,
  requestPasswordResetUpdate,
  requestVerificationEmailUpdate,
  RegistrationRequest,
  TrialFailure,
  TrialInput,
  TrialState,
  trialStateQuery,
  TrialStatus,
  TrialStep,
  verifyTokenUpdate,
} from './messages';

export { trialPasswordResetWorkflow, trialWelcomeBackWorkflow } from './legacy';

type TrialActivities = ReturnType<typeof createTrialActivities>;

// Background steps retry until they succeed: a mail or a revocation must not be lost.
const background = proxyActivities<TrialActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '5 minutes' },
});

// Steps an HTTP caller waits for give up quickly, so the caller gets an answer.
const inRequest = proxyActivities<TrialActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumAttempts: 4 },
});

// The short database steps a caller waits for run as local activities: in the
// worker, inside the workflow task, without a round trip through the server.
const localInRequest = proxyLocalActivities<TrialActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumAttempts: 4 },
});
// The registration record, before the first mail: retried until it succeeds, like the background steps.
const localBackground = proxyLocalActivities<TrialActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '5 minutes' },
});
// Runs recorded before local activities keep replaying their activity commands.
const LOCAL_DB_STEPS = 'trial-local-db-steps';
// Runs recorded before the trial continued in a run of its own once the account exists.
const TRIAL_CONTINUES_AS_NEW = 'trial-continues-as-new';
const requestSteps = () => (patched(LOCAL_DB_STEPS) ? localInRequest : inRequest);
const registrationSteps = () => (patched(LOCAL_DB_STEPS) ? localBackground : background);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** An expired trial can still be revived by `extend` this long; then the flow ends. */
const EXPIRED_TRIAL_REVIVABLE_FOR = 30 * DAY;

/**
 * One free trial, workflow ID `trial/<email>`:
 * registration recorded → verification mail → link opened → account created
 * and app provisioned → reminder before the end → expiry (access revoked),
 * unless extended or converted. An address that already has an account gets
 * a "welcome back" mail instead, and so does a registration while the trial runs.
 */
export async function trialWorkflow(input: TrialInput): Promise<TrialStatus> {
  const { email } = input;
  const names = { firstName: input.firstName, lastName: input.lastName, company: input.company };
  // Changed by update handlers too, so the compiler must not narrow it.
  // A run that continues the trial starts from where the last one left it; set before the
  // handlers, because an update waiting for this run is validated as soon as its handler is set.
  const { resume } = input;
  let status = (resume?.status ?? 'pending_verification') as TrialStatus;
  let step: TrialStep = resume ? (resume.status === 'expired' ? 'trial_expired' : 'trial_running') : 'awaiting_verification';
  const tokenNonce = uuid4();
  const tokenExpiresAt = Date.now() + input.verificationTtlMs;
  let tokenHash: string | undefined;
  // The mails asked for, counted against the hourly limit; runs started before
  // registration was an update counted the registration itself.
  const prior = (input.priorMailTimes ?? []).map((t) => ({ at: Date.parse(t), whilePending: false }));
  const mailRequests = [...prior, ...(input.mailOnRequest ? [] : [{ at: Date.now(), whilePending: true }])];
  const firstRequest = prior.length;
  let mailsHandled = 0;
  let verificationMailsSent = resume?.verificationMailsSent ?? 0;
  let existingAccount = false;
  let verified = false;
  let accountRequested = false;
  let account: CreatedTrialAccount | undefined = resume?.account;
  let trialEndsAt = resume?.trialEndsAt ?? 0;
  let remindedFor = resume?.remindedFor ?? 0;
  let expiredAt = resume?.expiredAt ?? 0;
  let busy = false;
  let ending = false;
  let endedByOperator = false;

  /** The deadline of the step's wait, for `ExpiresAt`: what expires soon is one query. */
  const deadline = (): number | null => {
    if (step === 'awaiting_verification' || step === 'awaiting_account_creation') return tokenExpiresAt;
    if (step === 'trial_running') return trialEndsAt;
    if (step === 'trial_expired') return expiredAt + EXPIRED_TRIAL_REVIVABLE_FOR;
    return null;
  };
  const setStep = (next: TrialStep) => {
    step = next;
    const until = deadline();
    upsertSearchAttributes([
      { key: FlowStep, value: next },
      { key: ExpiresAt, value: until === null ? null : new Date(until) },
      { key: TrialEndsAt, value: trialEndsAt ? new Date(trialEndsAt) : null },
    ]);
    narrate(narration());
  };

  const RESEND: OperatorAction = { update: 'requestVerificationEmail', input: '{}', does: 'mail the verification link again (within the hourly limit)' };
  const EXTEND: OperatorAction = { update: 'extendTrial', input: '{"days": 7}', does: 'add days to the trial (an expired one runs again)' };
  const COMPLETE: OperatorAction = { update: 'completeTrial', does: 'record the conversion to a paid account; the trial no longer expires' };
  const END: OperatorAction = { update: 'endTrial', input: '{"reason": "..."}', does: 'end the trial now' };
  /** What the Web UI shows for the current step. */
  function narration(): Narration {
    const linkExpires = { at: tokenExpiresAt, then: 'the link expires and the sign-up ends unverified' };
    switch (step) {
      case 'awaiting_verification':
        return { step: 'Waiting for the email address to be verified', waitingFor: `${email} to open the verification link`, until: linkExpires, operatorActions: [RESEND, END] };
      case 'awaiting_account_creation':
        return { step: 'Link opened: waiting for the account to be created', waitingFor: `${email} to choose a password`, until: linkExpires, operatorActions: [END] };
      case 'trial_running':
        return { step: `Trial of ${email} running`, waitingFor: 'the end of the trial (a reminder is mailed before it)', until: { at: trialEndsAt, then: 'access is revoked' }, operatorActions: [EXTEND, COMPLETE, END] };
      case 'trial_expired':
        return { step: `Trial of ${email} expired: access revoked`, waitingFor: 'an operator to extend or convert it', until: { at: expiredAt + EXPIRED_TRIAL_REVIVABLE_FOR, then: 'the flow ends' }, operatorActions: [EXTEND, COMPLETE, END] };
      case 'welcome_back':
        return { step: 'The address already has an account: a "welcome back" mail instead of a trial' };
      case 'converted':
        return { step: `Trial of ${email} converted to a paid account` };
      default:
        return { step: endedByOperator ? 'Ended by an operator before the account was created' : 'Ended unverified: the link was not used in time' };
    }
  }
  const isPending = () => status === 'pending_verification';
  const tokenIsLive = () => Date.now() < tokenExpiresAt;

  /** One state change at a time: the operator's updates never interleave with expiry. */
  async function exclusively<T>(change: () => Promise<T>): Promise<T> {
    await condition(() => !busy);
    busy = true;
    try {
      return await change();
    } finally {
      busy = false;
    }
  }

  /** A burst of registrations for an address with an account gets one "welcome back" mail: later ones join the one not yet sent. */
  function joinsQueuedWelcomeBack(): boolean {
    if (isPending() && !existingAccount) return false;
    return mailRequests.slice(firstRequest + mailsHandled).some((r) => existingAccount || !r.whilePending);
  }

  function checkToken(hash: string): void {
    if (endedByOperator) throw refusal(TrialFailure.tokenExpired, 'This sign-up was ended; the link no longer works.');
    if (account || accountRequested) throw refusal(TrialFailure.tokenUsed, 'This link was already used to create the account.');
    if (hash !== tokenHash) throw refusal(TrialFailure.tokenExpired, 'This link was replaced by a newer one.');
    if (!isPending() || !tokenIsLive()) throw refusal(TrialFailure.tokenExpired, 'This link has expired.');
  }

  setHandler(
    trialStateQuery,
    (): TrialState => ({
      email,
      status,
      step,
      accountId: account?.accountId,
      appId: account?.appId,
      trialEndsAt: trialEndsAt ? new Date(trialEndsAt).toISOString() : undefined,
      verificationEmailsSent: verificationMailsSent,
    }),
    { description: 'The trial as the API reads it: status, step, account and app, end, verification mails sent.' },
  );

  setHandler(
    requestVerificationEmailUpdate,
    (request) => {
      names.firstName ||= request.firstName ?? '';
      names.lastName ||= request.lastName ?? '';
      names.company ||= request.company ?? '';
      if (!joinsQueuedWelcomeBack()) mailRequests.push({ at: Date.now(), whilePending: isPending() });
      return { queued: true as const };
    },
    {
      description: 'A registration (again): a verification mail while the trial waits for it, else "welcome back". Operators resend the link with {}.',
      validator: (_request: RegistrationRequest) => {
        // Unverified and past its deadline, the run is about to end: the next registration starts a new one.
        if (ending || (isPending() && !tokenIsLive())) throw refusal(FlowEnding, 'The previous registration for this address is just ending.');
        if (joinsQueuedWelcomeBack()) return;
        if (mailRequests.filter((r) => r.at > Date.now() - HOUR).length >= MAILS_PER_HOUR) {
          throw refusal(TrialFailure.throttled, `At most ${MAILS_PER_HOUR} emails per address per hour: try again later.`);
        }
      },
    },
  );

  setHandler(
    verifyTokenUpdate,
    () => {
      verified = true;
      return { username: email, firstName: names.firstName, lastName: names.lastName };
    },
    { description: 'The verification link was opened: checks its token.', validator: ({ tokenHash: hash }) => checkToken(hash) },
  );

  setHandler(
    createTrialAccountUpdate,
    async (request) => {
      accountRequested = true;
      try {
        account = await createAccountWithApp(request.passwordHash, request.firstName || names.firstName, request.lastName || names.lastName);
        return account;
      } catch (err) {
        accountRequested = false;
        throw asUpdateFailure(err);
      }
    },
    { description: 'The account form behind the link: creates the account and provisions the app.', validator: ({ tokenHash: hash }) => checkToken(hash) },
  );

  setHandler(
    extendTrialUpdate,
    ({ days }) =>
      exclusively(async () => {
        const newEnd = Math.max(trialEndsAt, Date.now()) + days * DAY;
        await described(requestSteps().recordTrialExtension, `record the trial's new end, ${iso(newEnd)}`, { email, accountId: account!.accountId, trialEndsAt: iso(newEnd) });
        trialEndsAt = newEnd;
        status = 'active';
        setStep('trial_running');
        return { trialEndsAt: iso(newEnd) };
      }),
    {
      description: 'Operator: add days to the trial, from its end (or from now, reviving an expired one). Input {"days": 7}.',
      validator: ({ days }: { days: number }) => {
        requireStartedTrial();
        if (!Number.isInteger(days) || days < 1 || days > 365) throw refusal(TrialFailure.invalidInput, '"days" must be a whole number from 1 to 365.');
      },
    },
  );

  setHandler(
    completeTrialUpdate,
    () =>
      exclusively(async () => {
        await described(requestSteps().recordTrialConversion, 'record the conversion to a paid account', { email, accountId: account!.accountId });
        status = 'converted';
        setStep('converted');
        return { status: 'converted' as const };
      }),
    { description: 'Operator: the trial became a paid account; it no longer expires.', validator: () => requireStartedTrial() },
  );

  setHandler(
    endTrialUpdate,
    ({ reason: _reason }) => {
      endedByOperator = true;
      if (status === 'active') trialEndsAt = Date.now();
      return { ending: status === 'pending_verification' ? 'The sign-up ends unverified; its link no longer works.' : 'The trial ends now: access is revoked and the flow ends.' };
    },
    {
      description: 'Operator: end the trial now. A pending sign-up ends unverified; a running or expired trial ends with access revoked. Input {"reason": "..."}.',
      validator: ({ reason }: { reason: string }) => {
        if (ending || endedByOperator) throw refusal(FlowEnding, 'This trial is already ending.');
        if (typeof reason !== 'string' || !reason.trim()) throw refusal(TrialFailure.invalidInput, 'Give a "reason" for the record.');
        if (status === 'converted' || status === 'existing_account') throw refusal(TrialFailure.notRunning, `The trial is ${status.replace('_', ' ')}.`);
        if (accountRequested && !account) throw refusal(TrialFailure.unavailable, 'The account is being created right now; try again in a moment.');
      },
    },
  );

  function requireStartedTrial(): void {
    if (ending) throw refusal(FlowEnding, 'This trial is closing.');
    if (status !== 'active' && status !== 'expired') throw refusal(TrialFailure.notRunning, `The trial is ${status.replace('_', ' ')}.`);
  }

  async function createAccountWithApp(passwordHash: string, firstName: string, lastName: string): Promise<CreatedTrialAccount> {
    const endsAt = Date.now() + input.trialLengthMs;
    const steps = requestSteps();
    const { accountId } = await unlessRefused(described(steps.createTrialAccount, `create the account of ${email}`, { email, passwordHash, firstName, lastName, trialEndsAt: iso(endsAt) }), TrialFailure, RECORDED_REFUSALS);
    // The company as recorded at registration (the stored row's), which names the app.
    const app = await described(steps.provisionTrialApp, 'provision the trial app', { email, accountId, company: input.company });
    trialEndsAt = endsAt;
    status = 'active';
    return { username: email, accountId, appId: app.appId, appName: app.appName, trialEndsAt: iso(endsAt) };
  }

  /**
   * Sends each mail asked for, in order, for as long as the run lives: a
   * verification mail while the trial waits for it, "welcome back" when the
   * address has an account (from this trial or another flow). A resend asked
   * while the trial waited is moot once the account exists.
   */
  /**
   * The mail loop runs as long as the run: only a mail its activity gave up on
   * (a non-retryable failure) ends it early, which the operator must see;
   * the trial itself goes on.
   */
  function mailsStopped(error: unknown): void {
    // The failure's type only: its message may carry the address.
    const cause = error instanceof ActivityFailure ? error.cause : error;
    log.error('trial mails stopped: a mail failed for good', { failure: cause instanceof ApplicationFailure ? cause.type : (cause as Error)?.name, mailsHandled });
  }

  async function sendRequestedMails(): Promise<void> {
    for (;;) {
      await condition(() => firstRequest + mailsHandled < mailRequests.length);
      const request = mailRequests[firstRequest + mailsHandled];
      if (existingAccount || !request.whilePending) {
        await described(background.sendWelcomeBackEmail, `send "welcome back" mail to ${email}`, { email, requestId: `${workflowInfo().runId}/${mailsHandled + 1}` });
      } else if (isPending()) {
        await described(background.sendVerificationEmail, `send verification mail to ${email}`, { email, firstName: names.firstName, tokenNonce, tokenExpiresAt: iso(tokenExpiresAt), sequence: verificationMailsSent + 1 });
        verificationMailsSent++;
      }
      // Counted once the mail is out: the run does not end with a mail still on its way.
      mailsHandled++;
    }
  }

  async function awaitEmailVerification(): Promise<boolean> {
    return condition(() => verified || account !== undefined || endedByOperator, Math.max(0, tokenExpiresAt - Date.now()), timer('verification link expires'));
  }

  async function awaitAccountCreation(): Promise<boolean> {
    // The token's deadline also bounds this wait: after it, the link is dead.
    return condition(() => account !== undefined || endedByOperator, Math.max(0, tokenExpiresAt - Date.now()), timer('verification link expires'));
  }

  /** Waits until the trial's end or a change (extend, complete) made by an operator; true when something changed. */
  function trialChangedWithin(ms: number, end: number, summary: string): Promise<boolean> {
    return condition(() => trialEndsAt !== end || status !== 'active', Math.max(0, ms), timer(summary));
  }

  async function expireTrial(): Promise<void> {
    await exclusively(async () => {
      if (status !== 'active' || trialEndsAt > Date.now()) return; // extended or converted meanwhile
      await described(background.expireTrial, `revoke the trial access of ${email}`, { email, accountId: account!.accountId });
      status = 'expired';
      expiredAt = Date.now();
      setStep('trial_expired');
      await described(background.sendTrialExpiredEmail, `send "trial ended" mail to ${email}`, { email, trialEndsAt: iso(trialEndsAt) });
    });
  }

  /** The end: no request is taken any more, the mails asked for are out, running handlers finish. */
  async function finish(): Promise<TrialStatus> {
    ending = true;
    await condition(() => firstRequest + mailsHandled >= mailRequests.length);
    await condition(allHandlersFinished);
    return status;
  }

  /** The trial itself goes on in a new run: the registration's history (and its patches) stay behind. */
  async function continueAsTrial(): Promise<never> {
    await condition(() => firstRequest + mailsHandled >= mailRequests.length);
    await condition(allHandlersFinished);
    const recentMails = mailRequests.filter((r) => r.at > Date.now() - HOUR).map((r) => iso(r.at));
    return continueAsNew<typeof trialWorkflow>({
      ...input,
      ...names,
      mailOnRequest: true,
      priorMailTimes: recentMails,
      resume: { account: account!, status: status === 'expired' ? 'expired' : 'active', trialEndsAt, remindedFor, expiredAt, verificationMailsSent },
    });
  }

  /* ---- the flow ---- */

  narrate(narration());

  if (resume) {
    void sendRequestedMails().catch(mailsStopped);
  } else {
    const registration = await described(registrationSteps().recordTrialRegistration, `record the registration of ${email}`, { email, ...names, tokenNonce, tokenExpiresAt: iso(tokenExpiresAt) });
    tokenHash = registration.tokenHash;
    void sendRequestedMails().catch(mailsStopped);

    if (registration.accountExists) {
      // An account already exists for the address: "welcome back" instead of a trial.
      existingAccount = true;
      status = 'existing_account';
      setStep('welcome_back');
      return finish();
    }

    const linkOpened = await awaitEmailVerification();
    if (linkOpened && !account && !endedByOperator) setStep('awaiting_account_creation');
    const created = linkOpened && (await awaitAccountCreation());
    if (!created) {
      // A creation that is under way when the link dies still finishes.
      await condition(() => !accountRequested || account !== undefined);
    }
    if (!account) {
      status = 'unverified';
      setStep('unverified');
      await described(background.markTrialUnverified, 'record the sign-up as unverified', { email, tokenHash });
      return finish();
    }
    // Runs started before the trial continued in a run of its own carry on in this one.
    if (patched(TRIAL_CONTINUES_AS_NEW)) return continueAsTrial();
  }

  setStep(status === 'expired' ? 'trial_expired' : 'trial_running');
  while (status !== 'converted') {
    // A long trial (extended and revived many times) starts afresh before its history grows too large.
    if (input.resume && workflowInfo().continueAsNewSuggested) return continueAsTrial();
    if (status === 'active') {
      const end = trialEndsAt;
      const remindAt = end - input.reminderBeforeMs;
      if (remindedFor !== end && Date.now() < remindAt) {
        if (await trialChangedWithin(remindAt - Date.now(), end, 'trial reminder')) continue;
        await described(background.sendTrialReminderEmail, `send trial reminder to ${email}`, { email, trialEndsAt: iso(end) });
        remindedFor = end;
        continue;
      }
      if (await trialChangedWithin(end - Date.now(), end, 'trial ends')) continue;
      await expireTrial();
      continue;
    }
    // Expired: access is revoked; an operator may still extend or convert it, for a while.
    const revivableFor = input.resume ? expiredAt + EXPIRED_TRIAL_REVIVABLE_FOR - Date.now() : EXPIRED_TRIAL_REVIVABLE_FOR;
    if (endedByOperator) break;
    const revived = await condition(() => status !== 'expired' || endedByOperator, Math.max(0, revivableFor), timer('expired trial can no longer be revived'));
    if (!revived || endedByOperator) break;
  }
  return finish();
}

/**
 * A password reset, workflow ID `trial/<email>/password-reset`: a mail with a
 * link for each request (if the address has an account) → the new password
 * chosen behind the link, once → every earlier session ended. The run ends
 * when the last link has lapsed or the password is changed.
 */
export async function passwordResetWorkflow(input: PasswordResetInput): Promise<PasswordResetStep> {
  const { email } = input;
  const requests = (input.priorMailTimes ?? []).map((t) => Date.parse(t));
  const firstRequest = requests.length;
  let handled = 0;
  let step: PasswordResetStep = 'awaiting_new_password';
  let lastLinkLapsesAt = Date.now();
  let ending = false;
  const narrateStep = () =>
    narrate(
      step === 'awaiting_new_password'
        ? { step: 'Waiting for a new password', waitingFor: `${email} to choose a new password behind the mailed link`, until: { at: lastLinkLapsesAt, then: 'the last link lapses and the flow ends' } }
        : { step: step === 'password_changed' ? 'Password changed; earlier sessions ended' : 'Ended: the last link lapsed unused' },
    );
  narrateStep();

  setHandler(
    requestPasswordResetUpdate,
    () => {
      requests.push(Date.now());
      return { queued: true as const };
    },
    {
      description: '"Reset your password": mails a link if the address has an account, within the hourly limit.',
      validator: () => {
        if (ending) throw refusal(FlowEnding, 'This password reset is ending.');
        if (requests.filter((t) => t > Date.now() - HOUR).length >= MAILS_PER_HOUR) {
          throw refusal(TrialFailure.passwordResetThrottled, `At most ${MAILS_PER_HOUR} emails per address per hour: try again later.`);
        }
      },
    },
  );

  setHandler(
    chooseNewPasswordUpdate,
    async ({ accountId, passwordFingerprint, passwordHash }) => {
      const changed = await described(localInRequest.recordNewPassword, 'record the new password and end earlier sessions', { accountId, passwordFingerprint, passwordHash });
      if (!changed.username) throw refusal(TrialFailure.resetLinkUsed, 'This password-reset link was already used.');
      step = 'password_changed';
      return { username: changed.username };
    },
    {
      description: 'The form behind the link: sets the new password once.',
      validator: (_password: NewPassword) => {
        if (ending) throw refusal(FlowEnding, 'This password reset is ending.');
      },
    },
  );

  for (;;) {
    const mailAsked = await condition(() => firstRequest + handled < requests.length || step !== 'awaiting_new_password', Math.max(0, lastLinkLapsesAt - Date.now()), timer('last password-reset link lapses'));
    if (step !== 'awaiting_new_password' || !mailAsked) break;
    const sequence = ++handled;
    const sent = await described(background.sendPasswordResetEmail, `send password-reset mail to ${email}`, { email, requestId: `${workflowInfo().runId}/${sequence}` });
    if (sent.sent) lastLinkLapsesAt = Date.now() + PASSWORD_RESET_TTL_MS;
    narrateStep();
  }
  ending = true;
  if (step === 'awaiting_new_password') step = 'lapsed';
  narrateStep();
  await condition(allHandlersFinished);
  return step;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** How runs recorded before the account step returned its refusal as a `Refusal` recorded it: as its failure, then as `{ refused: 'account_exists' }`. */
const RECORDED_REFUSALS: RecordedRefusals = {
  failedAs: { TrialAccountExists: TrialFailure.accountExists },
  returned: () => refusal(TrialFailure.accountExists, 'An account with this address already exists: log in instead.'),
};

/** The account step's refusal is the update's; any other failure is "try again". */
function asUpdateFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure && err.type === TrialFailure.accountExists.type) return err;
  return refusal(TrialFailure.unavailable, 'The account could not be created right now; please try again.');
}

// A trial lasts weeks: it moves to each new worker version (its changes are patched, and it continues as new).
versionedAs('AUTO_UPGRADE', trialWorkflow);
// A password reset lives an hour: it finishes where it started.
versionedAs('PINNED', passwordResetWorkflow);
