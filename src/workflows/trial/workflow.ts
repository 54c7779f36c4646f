import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import type { createTrialActivities } from '../../activities/trial';
import { FlowStep } from '../../shared/searchAttributes';
import {
  completeTrialUpdate,
  createAccountUpdate,
  CreatedTrialAccount,
  extendTrialUpdate,
  requestVerificationEmailUpdate,
  RequestVerificationEmail,
  MAILS_PER_HOUR,
  TrialFailure,
  TrialInput,
  TrialState,
  trialStateQuery,
  TrialStatus,
  TrialStep,
  verifyTokenUpdate,
} from './messages';

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
const requestSteps = () => (patched(LOCAL_DB_STEPS) ? localInRequest : inRequest);
const registrationSteps = () => (patched(LOCAL_DB_STEPS) ? localBackground : background);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** An expired trial can still be revived by `extend` this long; then the flow ends. */
const EXPIRED_TRIAL_REVIVABLE_FOR = 30 * DAY;

/**
 * One free trial, workflow ID `trial/<email>`:
 * verification mail → link opened → account created and app provisioned →
 * reminder before the end → expiry (access revoked), unless extended or converted.
 */
export async function trialWorkflow(input: TrialInput): Promise<TrialStatus> {
  const { email } = input;
  const names = { firstName: input.firstName, lastName: input.lastName, company: input.company };
  // Changed by update handlers too, so the compiler must not narrow it.
  let status = 'pending_verification' as TrialStatus;
  let step: TrialStep = 'awaiting_verification';
  const tokenNonce = uuid4();
  const tokenExpiresAt = Date.now() + input.verificationTtlMs;
  let tokenHash: string | undefined;
  // Workflow times of the verification mails asked for; the first is the registration itself.
  const mailRequests: number[] = [Date.now()];
  let mailsSent = 0;
  let verified = false;
  let accountRequested = false;
  let account: CreatedTrialAccount | undefined;
  let trialEndsAt = 0;
  let remindedFor = 0;
  let busy = false;

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

  function checkToken(hash: string): void {
    if (account || accountRequested) throw ApplicationFailure.create({ type: TrialFailure.tokenUsed, message: 'This link was already used to create the account.' });
    if (hash !== tokenHash) throw ApplicationFailure.create({ type: TrialFailure.tokenExpired, message: 'This link was replaced by a newer one.' });
    if (!isPending() || !tokenIsLive()) throw ApplicationFailure.create({ type: TrialFailure.tokenExpired, message: 'This link has expired.' });
  }

  setHandler(trialStateQuery, (): TrialState => ({
    email,
    status,
    step,
    accountId: account?.accountId,
    appId: account?.appId,
    trialEndsAt: trialEndsAt ? new Date(trialEndsAt).toISOString() : undefined,
    verificationEmailsSent: mailsSent,
  }));

  setHandler(
    requestVerificationEmailUpdate,
    (request) => {
      names.firstName ||= request.firstName ?? '';
      names.lastName ||= request.lastName ?? '';
      names.company ||= request.company ?? '';
      mailRequests.push(Date.now());
      return { queued: true as const };
    },
    {
      validator: (_request: RequestVerificationEmail) => {
        if (!isPending()) throw ApplicationFailure.create({ type: TrialFailure.alreadyVerified, message: 'This trial is past verification.' });
        if (!tokenIsLive()) throw ApplicationFailure.create({ type: TrialFailure.tokenExpired, message: 'The verification time is over.' });
        const lastHour = mailRequests.filter((t) => t > Date.now() - HOUR).length;
        if (lastHour >= MAILS_PER_HOUR) throw ApplicationFailure.create({ type: TrialFailure.throttled, message: 'Too many emails to this address; try again later.' });
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
    createAccountUpdate,
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
    if (status !== 'active' && status !== 'expired') {
      throw ApplicationFailure.create({ type: TrialFailure.notRunning, message: `The trial is ${status.replace('_', ' ')}.` });
    }
  }

  async function createAccountWithApp(passwordHash: string, firstName: string, lastName: string): Promise<CreatedTrialAccount> {
    const endsAt = Date.now() + input.trialLengthMs;
    const steps = requestSteps();
    const { accountId } = await steps.createTrialAccount({ email, passwordHash, firstName, lastName, trialEndsAt: iso(endsAt) });
    // The company as recorded at registration (the stored row's), which names the app.
    const app = await steps.provisionTrialApp({ email, accountId, company: input.company });
    trialEndsAt = endsAt;
    status = 'active';
    return { username: email, accountId, appId: app.appId, appName: app.appName, trialEndsAt: iso(endsAt) };
  }

  /** Sends each verification mail asked for (registration and re-registrations) while the trial waits for its account. */
  async function sendRequestedVerificationEmails(): Promise<void> {
    while (isPending()) {
      await condition(() => mailsSent < mailRequests.length || !isPending());
      if (!isPending()) return;
      await background.sendVerificationEmail({ email, firstName: names.firstName, tokenNonce, tokenExpiresAt: iso(tokenExpiresAt), sequence: mailsSent + 1 });
      mailsSent++;
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
      setStep('trial_expired');
      await background.sendTrialExpiredEmail({ email, trialEndsAt: iso(trialEndsAt) });
    });
  }

  /* ---- the flow ---- */

  ({ tokenHash } = await registrationSteps().recordTrialRegistration({ email, ...names, tokenNonce, tokenExpiresAt: iso(tokenExpiresAt) }));
  void sendRequestedVerificationEmails();

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
    await background.markTrialUnverified({ email, tokenHash: tokenHash! });
    await condition(allHandlersFinished);
    return status;
  }

  setStep('trial_running');
  while (status !== 'converted') {
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
    // Expired: access is revoked; an operator may still extend or convert it.
    const revived = await condition(() => status !== 'expired', EXPIRED_TRIAL_REVIVABLE_FOR);
    if (!revived) break;
  }
  await condition(allHandlersFinished);
  return status;
}

/** The "Welcome back" mail for an address that already has an account: no trial is started. */
export async function trialWelcomeBackWorkflow(input: { email: string; requestId: string }): Promise<void> {
  await background.sendWelcomeBackEmail(input);
}

/** The password-reset mail asked for from the "welcome back" mail; sent only if the address has an account. */
export async function trialPasswordResetWorkflow(input: { email: string; requestId: string }): Promise<void> {
  await background.sendPasswordResetEmail(input);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Activity failures become update failures the API can map; anything else is "try again". */
function asUpdateFailure(err: unknown): ApplicationFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === TrialFailure.accountExists) {
    return ApplicationFailure.create({ type: TrialFailure.accountExists, message: cause.message });
  }
  return ApplicationFailure.create({ type: TrialFailure.unavailable, message: 'The account could not be created right now; please try again.' });
}
