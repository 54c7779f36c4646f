import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { createTrialActivities } from '../../activities/trial';
import { FlowStep } from '../../shared/searchAttributes';
import { versionedAs } from '../versioning';
import { FlowEnding, refusal } from '../../shared/failures';
import {
  chooseNewPasswordUpdate,
  completeTrialUpdate,
  createTrialAccountUpdate,
  CreatedTrialAccount,
  extendTrialUpdate,
  MAILS_PER_HOUR,
  NewPassword,
  PASSWORD_RESET_TTL_MS,
  PasswordResetFailure,
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

  const setStep = (next: TrialStep) => {
    step = next;
    upsertSearchAttributes([{ key: FlowStep, value: next }]);
  };
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
    if (account || accountRequested) throw refusal(TrialFailure.tokenUsed, 'This link was already used to create the account.');
    if (hash !== tokenHash) throw refusal(TrialFailure.tokenExpired, 'This link was replaced by a newer one.');
    if (!isPending() || !tokenIsLive()) throw refusal(TrialFailure.tokenExpired, 'This link has expired.');
  }

  setHandler(trialStateQuery, (): TrialState => ({
    email,
    status,
    step,
    accountId: account?.accountId,
    appId: account?.appId,
    trialEndsAt: trialEndsAt ? new Date(trialEndsAt).toISOString() : undefined,
    verificationEmailsSent: verificationMailsSent,
  }));

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
    { validator: ({ tokenHash: hash }) => checkToken(hash) },
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
    { validator: ({ tokenHash: hash }) => checkToken(hash) },
  );

  setHandler(
    extendTrialUpdate,
    ({ days }) =>
      exclusively(async () => {
        const newEnd = Math.max(trialEndsAt, Date.now()) + days * DAY;
        await requestSteps().recordTrialExtension({ email, accountId: account!.accountId, trialEndsAt: iso(newEnd) });
        trialEndsAt = newEnd;
        status = 'active';
        setStep('trial_running');
        return { trialEndsAt: iso(newEnd) };
      }),
    { validator: (_extension: { days: number }) => requireStartedTrial() },
  );

  setHandler(
    completeTrialUpdate,
    () =>
      exclusively(async () => {
        await requestSteps().recordTrialConversion({ email, accountId: account!.accountId });
        status = 'converted';
        setStep('converted');
        return { status: 'converted' as const };
      }),
    { validator: () => requireStartedTrial() },
  );

  function requireStartedTrial(): void {
    if (ending) throw refusal(FlowEnding, 'This trial is closing.');
    if (status !== 'active' && status !== 'expired') throw refusal(TrialFailure.notRunning, `The trial is ${status.replace('_', ' ')}.`);
  }

  async function createAccountWithApp(passwordHash: string, firstName: string, lastName: string): Promise<CreatedTrialAccount> {
    const endsAt = Date.now() + input.trialLengthMs;
    const steps = requestSteps();
    const created = await steps.createTrialAccount({ email, passwordHash, firstName, lastName, trialEndsAt: iso(endsAt) });
    if ('refused' in created) throw refusal(TrialFailure.accountExists, 'An account with this address already exists: log in instead.');
    const { accountId } = created;
    // The company as recorded at registration (the stored row's), which names the app.
    const app = await steps.provisionTrialApp({ email, accountId, company: input.company });
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
  async function sendRequestedMails(): Promise<void> {
    for (;;) {
      await condition(() => firstRequest + mailsHandled < mailRequests.length);
      const request = mailRequests[firstRequest + mailsHandled];
      if (existingAccount || !request.whilePending) {
        await background.sendWelcomeBackEmail({ email, requestId: `${workflowInfo().runId}/${mailsHandled + 1}` });
      } else if (isPending()) {
        await background.sendVerificationEmail({ email, firstName: names.firstName, tokenNonce, tokenExpiresAt: iso(tokenExpiresAt), sequence: verificationMailsSent + 1 });
        verificationMailsSent++;
      }
      // Counted once the mail is out: the run does not end with a mail still on its way.
      mailsHandled++;
    }
  }

  async function awaitEmailVerification(): Promise<boolean> {
    return condition(() => verified || account !== undefined, Math.max(0, tokenExpiresAt - Date.now()));
  }

  async function awaitAccountCreation(): Promise<boolean> {
    // The token's deadline also bounds this wait: after it, the link is dead.
    return condition(() => account !== undefined, Math.max(0, tokenExpiresAt - Date.now()));
  }

  /** Waits until the trial's end or a change (extend, complete) made by an operator; true when something changed. */
  function trialChangedWithin(ms: number, end: number): Promise<boolean> {
    return condition(() => trialEndsAt !== end || status !== 'active', Math.max(0, ms));
  }

  async function expireTrial(): Promise<void> {
    await exclusively(async () => {
      if (status !== 'active' || trialEndsAt > Date.now()) return; // extended or converted meanwhile
      await background.expireTrial({ email, accountId: account!.accountId });
      status = 'expired';
      expiredAt = Date.now();
      setStep('trial_expired');
      await background.sendTrialExpiredEmail({ email, trialEndsAt: iso(trialEndsAt) });
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

  if (resume) {
    sendRequestedMails().catch(() => undefined); // it runs as long as the workflow; its failures are the activities' retries
  } else {
    const registration = await registrationSteps().recordTrialRegistration({ email, ...names, tokenNonce, tokenExpiresAt: iso(tokenExpiresAt) });
    tokenHash = registration.tokenHash;
    sendRequestedMails().catch(() => undefined);

    if (registration.accountExists) {
      // An account already exists for the address: "welcome back" instead of a trial.
      existingAccount = true;
      status = 'existing_account';
      setStep('welcome_back');
      return finish();
    }

    const linkOpened = await awaitEmailVerification();
    if (linkOpened && !account) setStep('awaiting_account_creation');
    const created = linkOpened && (await awaitAccountCreation());
    if (!created) {
      // A creation that is under way when the link dies still finishes.
      await condition(() => !accountRequested || account !== undefined);
    }
    if (!account) {
      status = 'unverified';
      setStep('unverified');
      await background.markTrialUnverified({ email, tokenHash });
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
        if (await trialChangedWithin(remindAt - Date.now(), end)) continue;
        await background.sendTrialReminderEmail({ email, trialEndsAt: iso(end) });
        remindedFor = end;
        continue;
      }
      if (await trialChangedWithin(end - Date.now(), end)) continue;
      await expireTrial();
      continue;
    }
    // Expired: access is revoked; an operator may still extend or convert it, for a while.
    const revivableFor = input.resume ? expiredAt + EXPIRED_TRIAL_REVIVABLE_FOR - Date.now() : EXPIRED_TRIAL_REVIVABLE_FOR;
    const revived = await condition(() => status !== 'expired', Math.max(0, revivableFor));
    if (!revived) break;
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

  setHandler(
    requestPasswordResetUpdate,
    () => {
      requests.push(Date.now());
      return { queued: true as const };
    },
    {
      validator: () => {
        if (ending) throw refusal(FlowEnding, 'This password reset is ending.');
        if (requests.filter((t) => t > Date.now() - HOUR).length >= MAILS_PER_HOUR) {
          throw refusal(PasswordResetFailure.throttled, `At most ${MAILS_PER_HOUR} emails per address per hour: try again later.`);
        }
      },
    },
  );

  setHandler(
    chooseNewPasswordUpdate,
    async ({ accountId, passwordFingerprint, passwordHash }) => {
      const changed = await localInRequest.recordNewPassword({ accountId, passwordFingerprint, passwordHash });
      if (!changed.username) throw refusal(PasswordResetFailure.linkUsed, 'This password-reset link was already used.');
      step = 'password_changed';
      return { username: changed.username };
    },
    {
      validator: (_password: NewPassword) => {
        if (ending) throw refusal(FlowEnding, 'This password reset is ending.');
      },
    },
  );

  for (;;) {
    const mailAsked = await condition(() => firstRequest + handled < requests.length || step !== 'awaiting_new_password', Math.max(0, lastLinkLapsesAt - Date.now()));
    if (step !== 'awaiting_new_password' || !mailAsked) break;
    const sequence = ++handled;
    const sent = await background.sendPasswordResetEmail({ email, requestId: `${workflowInfo().runId}/${sequence}` });
    if (sent.sent) lastLinkLapsesAt = Date.now() + PASSWORD_RESET_TTL_MS;
  }
  ending = true;
  if (step === 'awaiting_new_password') step = 'lapsed';
  await condition(allHandlersFinished);
  return step;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Activity failures become update failures the API can map; anything else is "try again". */
function asUpdateFailure(err: unknown): ApplicationFailure {
  // Runs recorded before refusals came back as values saw this one as an activity failure.
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === TrialFailure.accountExists.type) return refusal(TrialFailure.accountExists, cause.message);
  return refusal(TrialFailure.unavailable, 'The account could not be created right now; please try again.');
}

// A trial lasts weeks: it moves to each new worker version (its changes are patched, and it continues as new).
versionedAs('AUTO_UPGRADE', trialWorkflow);
// A password reset lives an hour: it finishes where it started.
versionedAs('PINNED', passwordResetWorkflow);
