import { allHandlersFinished, ApplicationFailure, condition, getExternalWorkflowHandle, patched, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { createInvitationActivities } from '../../activities/invitation';
import { ExpiresAt, FlowStep } from '../../shared/searchAttributes';
import { described, narrate, Narration, timer } from '../narration';
import { versionedAs } from '../versioning';
import { FlowEnding, FlowFailure, isRefusal, raise, RecordedRefusals, refusal, unlessRefused } from '../../shared/failures';
import {
  bindInviteeUpdate,
  BoundVia,
  CarriedInvitationAnswer,
  carriedInvitationAnsweredSignal,
  createValidatedAccountUpdate,
  EmailValidationInput,
  EmailValidationStep,
  emailValidationStepQuery,
  InvitationFailure,
  InvitationInput,
  invitationRecordedUpdate,
  InvitationStep,
  invitationStateQuery,
  invitationWorkflowId,
  inviteeAccountCreatedSignal,
  joinTeamUpdate,
  MembershipInvitation,
  REGISTRATION_MAILS_PER_DAY,
  registrationNamesQuery,
  RESENDS_PER_DAY,
  resendInvitationUpdate,
  requestInviteeVerificationUpdate,
  requestRegistrationLinkUpdate,
  requestValidationEmailSignal,
  revokeInvitationUpdate,
  ValidationEmailRequest,
} from './messages';

type InvitationActivities = ReturnType<typeof createInvitationActivities>;

// Background steps retry until they succeed: a recorded invitation or a mail must not be lost.
const { recordInvitation, sendInvitationEmail, sendInvitationNotification, recordInvitationRevoked, recordInvitationExpired, sendEmailValidationEmail, readInvitationEnd } =
  proxyActivities<InvitationActivities>({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumInterval: '1m' } });

// Steps a person's click waits for give up in bounded time, so the click gets an answer.
const clickSteps = proxyActivities<InvitationActivities>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '5s' },
});
// The short database steps of a click run as local activities: in the worker, inside the workflow task.
const localClickSteps = proxyLocalActivities<InvitationActivities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '20s',
  retry: { initialInterval: '500ms', maximumInterval: '5s' },
});
// Runs recorded before the click steps ran as local activities keep replaying their activity commands.
const LOCAL_CLICK_STEPS = 'invitation-local-click-steps';
// Runs recorded before each registration mail moved ExpiresAt keep their command sequence.
const EXPIRES_AT_PER_MAIL = 'email-validation-expires-at-per-mail';
// Runs recorded before resends counted against the daily caps on invitation mails mailed them without asking.
const RESEND_WITHIN_DAILY_CAPS = 'invitation-resend-within-daily-caps';
// Runs recorded before an invitation without expiry ended at INVITATION_MAX_LIFETIME keep waiting as they did.
const ENDS_WITHOUT_EXPIRY = 'invitation-ends-without-expiry';
const databaseSteps = () => (patched(LOCAL_CLICK_STEPS) ? localClickSteps : clickSteps);

const DAY_MS = 24 * 3600_000;
/**
 * How long account creation waits for the carried invitation's flow to say
 * whether it bound the account: normally milliseconds, but a restarting worker
 * or server must not leave the new invitee unable to join right after sign-up.
 */
const CARRIED_INVITATION_ANSWER_WITHIN = '5 minutes';
/** Identity-verification mails per invitation and day: enough for typos, too few to spam an address. */
const VERIFICATION_MAILS_PER_DAY = 3;

function refuse(failure: FlowFailure, message: string): never {
  throw refusal(failure, message);
}

/**
 * How runs recorded before the activities returned their refusals as
 * `Refusal`s recorded them, so that replaying such a run refuses the same
 * way: the account step failed (with the types of then), later it returned
 * `{ refused: 'accountExists' | 'usernameTaken', message }`; the invitation
 * step returned `{ refused: <message> }`.
 */
const RECORDED_ACCOUNT_REFUSALS: RecordedRefusals = {
  failedAs: { Conflict: InvitationFailure.accountExists, TooMany: InvitationFailure.limitReached },
  returned: ({ refused, message }) => refusal(refused === 'usernameTaken' ? InvitationFailure.usernameTaken : InvitationFailure.accountExists, message ?? ''),
};
const RECORDED_INVITATION_REFUSALS: RecordedRefusals = { returned: ({ refused }) => refusal(InvitationFailure.limitReached, refused) };

/**
 * One team membership invitation, as in Synapse's sequence diagram: record
 * it, mail the invitee, then wait for the invitee to be bound to an account
 * and to join — or for the invitation to be revoked or to expire.
 */
export async function membershipInvitationWorkflow(input: InvitationInput): Promise<InvitationStep> {
  let step: InvitationStep = 'recording';
  let invitation: MembershipInvitation | undefined;
  let inviteeId = input.inviteeId;
  let boundVia: BoundVia | undefined;
  let refusals = 0;
  const verificationMailTimes: number[] = [];
  /** When the invitation ends: its expiresOn, or (started without one) INVITATION_MAX_LIFETIME after it was made. */
  let endsOn = input.expiresOn;

  const invitee = input.inviteeEmail ?? `account ${input.inviteeId}`;
  const enterStep = (next: InvitationStep) => {
    step = next;
    const open = next === 'awaiting_invitee' || next === 'awaiting_join';
    upsertSearchAttributes([
      { key: FlowStep, value: next },
      { key: ExpiresAt, value: open && endsOn ? new Date(endsOn) : null },
    ]);
    narrate(narration());
  };
  const RESEND = { update: 'resendInvitation', does: `mail the invitation again (at most ${RESENDS_PER_DAY} a day)` };
  const REVOKE = { update: 'revokeInvitation', input: '{"by": 0}', does: 'withdraw the invitation; its links then say so' };
  /** What the Web UI shows for the current step. */
  function narration(): Narration {
    const expires = endsOn ? { at: Date.parse(endsOn), then: 'the invitation expires' } : undefined;
    switch (step) {
      case 'recording':
        return { step: 'Recording the invitation' };
      case 'awaiting_invitee':
        return { step: 'Invitation mailed: waiting for the invitee', waitingFor: `${invitee} to open the link and sign in or create an account`, ...(expires ? { until: expires } : {}), operatorActions: [RESEND, REVOKE] };
      case 'awaiting_join':
        return { step: 'Invitee bound to an account: waiting for the join', waitingFor: `account ${inviteeId} to join the team`, ...(expires ? { until: expires } : {}), operatorActions: [RESEND, REVOKE] };
      case 'joined':
        return { step: `Joined: account ${inviteeId} is a member of the team` };
      case 'revoked':
        return { step: 'Revoked: the invitation was withdrawn' };
      case 'expired':
        return { step: 'Expired before the invitee joined' };
      default:
        return { step: `Not sent: ${refusedWith?.message ?? 'over a daily cap'}` };
    }
  }
  const isOpen = () => step === 'awaiting_invitee' || step === 'awaiting_join';
  const refuseUnlessOpen = () => {
    if (step === 'revoked') refuse(InvitationFailure.closed, 'This invitation was withdrawn.');
    if (step === 'joined') refuse(InvitationFailure.closed, 'This invitation has already been used.');
    if (step === 'expired') refuse(InvitationFailure.closed, 'This invitation has expired.');
    if (step === 'refused') refuse(InvitationFailure.closed, 'This invitation was not sent.');
    if (!isOpen()) refuse(InvitationFailure.notYetRecorded, 'The invitation is still being created; try again in a moment.');
  };

  // Binding and verification only apply to an emailed invitation whose invitee is not known yet.
  const refuseUnlessUnbound = (_request: unknown) => {
    refuseUnlessOpen();
    if (!input.inviteeEmail || inviteeId !== undefined) refuse(InvitationFailure.alreadyBound, 'The invitation is already bound to an account.');
  };

  setHandler(invitationStateQuery, () => ({ step, invitation, inviteeId, boundVia }), { description: 'The invitation as recorded, its step and its invitee.' });

  let refusedWith: ApplicationFailure | undefined;
  setHandler(
    invitationRecordedUpdate,
    async () => {
      await condition(() => invitation !== undefined || refusedWith !== undefined);
      if (refusedWith) throw refusedWith;
      return invitation!;
    },
    { description: "Answers the API's 201 once the invitation is recorded, or refuses over a daily cap." },
  );

  setHandler(
    bindInviteeUpdate,
    async ({ inviteeId: accountId, via }) => {
      inviteeId = accountId;
      boundVia = via;
      enterStep('awaiting_join');
      return await described(databaseSteps().recordInviteeBound, `bind account ${accountId} as the invitee`, { invitationId: input.invitationId, inviteeId: accountId, via });
    },
    { description: "Binds the invitee's verified account to the emailed invitation.", validator: refuseUnlessUnbound },
  );

  // A new account for the invited address, from the email-validation flow: it binds here, so no API process stands between account and binding.
  setHandler(
    inviteeAccountCreatedSignal,
    async ({ accountId, email, replyTo }) => {
      let bound: MembershipInvitation | undefined;
      if (isOpen() && input.inviteeEmail === email && inviteeId === undefined) {
        inviteeId = accountId;
        boundVia = 'new_account';
        enterStep('awaiting_join');
        bound = await described(databaseSteps().recordInviteeBound, `bind the new account ${accountId} as the invitee`, { invitationId: input.invitationId, inviteeId: accountId, via: 'new_account' });
      }
      try {
        await getExternalWorkflowHandle(replyTo).signal(carriedInvitationAnsweredSignal, { invitationId: input.invitationId, ...(bound ? { invitation: bound } : {}) });
      } catch {
        // The asking flow has ended: nobody waits for the answer, the binding stands.
      }
    },
    { description: 'From the email validation: an account was created for the invited address; binds it and answers.' },
  );

  setHandler(
    requestInviteeVerificationUpdate,
    async ({ accountId, accountEmail, portalEndpoint, mailOnMismatch }) => {
      if (accountEmail.toLowerCase() === input.inviteeEmail) {
        return { verified: true, token: await described(databaseSteps().signInviteeVerificationToken, `sign the verification token of account ${accountId}`, { invitationId: input.invitationId, inviteeId: accountId }) };
      }
      await described(databaseSteps().recordVerificationRefused, `record a refused verification of account ${accountId}`, { invitationId: input.invitationId, teamId: input.teamId, sequence: ++refusals });
      // Synapse's phase 1: the refusal alone.
      if (mailOnMismatch === false) return { verified: false, mailed: false };
      const now = Date.now();
      if (verificationMailTimes.filter((t) => t > now - DAY_MS).length >= VERIFICATION_MAILS_PER_DAY) {
        return { verified: false, mailed: false };
      }
      verificationMailTimes.push(now);
      await described(clickSteps.sendIdentityVerificationEmail, `send identity verification mail to ${input.inviteeEmail}`, {
        invitationId: input.invitationId,
        inviteeId: accountId,
        portalEndpoint,
        sequence: verificationMailTimes.length,
      });
      return { verified: false, mailed: true };
    },
    { description: "Synapse's phase 1 and 2: a verification token when the account's email is the invited one, else a verification mail to it.", validator: refuseUnlessUnbound },
  );

  // A join retried by the same invitee (its first answer was lost with a dropped
  // connection) waits for the same outcome instead of being refused as used.
  let joining: Promise<void> | undefined;
  setHandler(
    joinTeamUpdate,
    async ({ accountId }) => {
      joining ??= (async () => {
        enterStep('joined');
        await described(databaseSteps().addInviteeToTeam, `add account ${accountId} to the team`, { invitationId: input.invitationId, teamId: input.teamId, accountId });
      })();
      await joining;
    },
    {
      description: 'The one-click Join of the bound invitee.',
      validator: ({ accountId }) => {
        if (step === 'joined' && inviteeId === accountId) return;
        refuseUnlessOpen();
        if (inviteeId !== accountId) refuse(InvitationFailure.notInvited, 'An invitation is required to join the team.');
      },
    },
  );

  // A fresh link (or notice) for a mail the invitee lost: the earlier links stay valid, all until the invitation ends.
  const resendTimes: number[] = [];
  // Every resend asked for has its own number, also one refused over a daily cap: its mail's key is never reused.
  let resendsAsked = 0;
  setHandler(
    resendInvitationUpdate,
    async () => {
      const askedAt = Date.now();
      resendTimes.push(askedAt);
      const resend = { sequence: ++resendsAsked, issuedOn: new Date(askedAt).toISOString() };
      if (patched(RESEND_WITHIN_DAILY_CAPS)) {
        // A resend is one more mail of the inviter's, the team's and to the address: counted within the same daily caps as the first one.
        const counted = await described(localClickSteps.countInvitationResend, `count resend ${resend.sequence} within the daily caps`, { invitationId: input.invitationId, sequence: resend.sequence });
        if (isRefusal(counted)) {
          // Not mailed: it does not count towards this invitation's resends either.
          resendTimes.splice(resendTimes.indexOf(askedAt), 1);
          throw raise(counted, InvitationFailure);
        }
      }
      if (input.inviteeEmail) await described(sendInvitationEmail, `send invitation mail to ${input.inviteeEmail} again`, { invitationId: input.invitationId, acceptInvitationEndpoint: input.acceptInvitationEndpoint, resend });
      else await described(sendInvitationNotification, `send invitation notice to ${invitee} again`, { invitationId: input.invitationId, notificationUnsubscribeEndpoint: input.notificationUnsubscribeEndpoint, resend });
      return invitation!;
    },
    {
      description: `Team admin or operator: mail the invitation again (a fresh link; earlier ones keep working), at most ${RESENDS_PER_DAY} a day and within the daily caps on invitation mails.`,
      validator: () => {
        refuseUnlessOpen();
        if (resendTimes.filter((t) => t > Date.now() - DAY_MS).length >= RESENDS_PER_DAY) {
          refuse(InvitationFailure.resendLimitReached, `This invitation was sent again ${RESENDS_PER_DAY} times today; try again tomorrow.`);
        }
      },
    },
  );

  setHandler(
    revokeInvitationUpdate,
    async () => {
      enterStep('revoked');
      await described(recordInvitationRevoked, 'record the invitation as withdrawn', { invitationId: input.invitationId });
      return { revoked: true as const };
    },
    { description: 'Team admin, invitee or operator: withdraw the invitation. Input {"by": <account id, 0 for an operator>}.', validator: (_request) => refuseUnlessOpen() },
  );

  narrate(narration());
  const recorded = await described(recordInvitation, 'record the invitation (within the daily caps)', input);
  if (isRefusal(recorded)) {
    // Over a daily cap: nothing was recorded or mailed, and the flow ends here.
    refusedWith = raise(recorded, InvitationFailure, RECORDED_INVITATION_REFUSALS);
    enterStep('refused');
    await condition(allHandlersFinished);
    return step;
  }
  invitation = recorded;
  // Open from here on: the invitee may act (e.g. join by id) before the mail is out.
  enterStep(inviteeId === undefined ? 'awaiting_invitee' : 'awaiting_join');
  if (input.inviteeEmail) await described(sendInvitationEmail, `send invitation mail to ${input.inviteeEmail}`, { invitationId: input.invitationId, acceptInvitationEndpoint: input.acceptInvitationEndpoint });
  else await described(sendInvitationNotification, `send invitation notice to ${invitee}`, { invitationId: input.invitationId, notificationUnsubscribeEndpoint: input.notificationUnsubscribeEndpoint });

  if (!endsOn && patched(ENDS_WITHOUT_EXPIRY)) {
    // Started without an end (the API gives every invitation one): it ends when its link does.
    endsOn = await described(readInvitationEnd, 'read when the invitation ends (INVITATION_MAX_LIFETIME after it was made)', { invitationId: input.invitationId });
    if (isOpen()) enterStep(step);
  }
  const settled = await awaitJoinOrRevocation(endsOn, () => !isOpen());
  if (!settled) {
    enterStep('expired');
    await described(recordInvitationExpired, 'record the invitation as expired', { invitationId: input.invitationId });
  }
  // Let a running join or revocation finish its activity before the workflow completes.
  await condition(allHandlersFinished);
  return step;
}

/** Waits for the flow to be settled; false when `expiresOn` came first. No expiry (runs started before every invitation had an end): waits as long as it takes. */
async function awaitJoinOrRevocation(expiresOn: string | undefined, settled: () => boolean): Promise<boolean> {
  if (!expiresOn) {
    await condition(settled);
    return true;
  }
  const left = Date.parse(expiresOn) - Date.now();
  if (left <= 0) return settled();
  return condition(settled, left, timer('invitation expires'));
}

/**
 * One new-account email validation: mails the registration link (again on
 * each request) and waits until the account is created or the last link
 * has lapsed.
 */
export async function accountEmailValidationWorkflow(input: EmailValidationInput): Promise<EmailValidationStep> {
  let step: EmailValidationStep = 'awaiting_account';
  const requests: ValidationEmailRequest[] = [];
  // Mails of the day counted here, where requests are taken one at a time, so a burst gets exactly the limit.
  const mailTimes = (input.priorMailTimes ?? []).map((t) => Date.parse(t));
  let ending = false;
  let sent = 0;
  let lastLinkExpiresAt = Date.now() + input.ttlMs;
  let creating = false;
  let accountId: number | undefined;
  const carriedAnswers = new Map<number, CarriedInvitationAnswer>();
  // The names typed with each request, by the expiry of the link mailed for it: the account form is prefilled with them.
  const namesByLink = new Map<string, { firstName: string; lastName: string }>();

  /** Asks the carried invitation's flow to bind the new account; undefined when it did not (or did not answer in time). */
  const bindCarriedInvitation = async (invitationId: number, newAccountId: number): Promise<MembershipInvitation | undefined> => {
    try {
      await getExternalWorkflowHandle(invitationWorkflowId(invitationId)).signal(inviteeAccountCreatedSignal, { accountId: newAccountId, email: input.email, replyTo: workflowInfo().workflowId });
    } catch {
      // The invitation flow has ended (joined, revoked, expired): nothing to bind.
      return undefined;
    }
    // Bounded: the account exists either way, and a late binding still happens in the invitation flow.
    await condition(() => carriedAnswers.has(invitationId), CARRIED_INVITATION_ANSWER_WITHIN, timer("carried invitation's answer"));
    return carriedAnswers.get(invitationId)?.invitation;
  };

  const narrateStep = () =>
    narrate(
      step === 'awaiting_account'
        ? {
            step: sent ? 'Registration link mailed: waiting for the account' : 'Mailing the registration link',
            waitingFor: `${input.email} to open the link and create the account`,
            until: { at: lastLinkExpiresAt, then: 'the last link lapses and the registration ends' },
          }
        : { step: step === 'account_created' ? `Account ${accountId} created` : 'Ended: the last link lapsed unused' },
    );

  setHandler(emailValidationStepQuery, () => step, { description: 'The step of the registration.' });
  setHandler(registrationNamesQuery, (expiresOn) => namesByLink.get(expiresOn) ?? null, { description: 'The names typed with the request whose link expires at the given ISO time, to prefill the account form.' });
  setHandler(requestValidationEmailSignal, (request) => void requests.push(request), { description: 'A registration link asked for by earlier versions of the API (kept so their runs replay).' });
  setHandler(
    requestRegistrationLinkUpdate,
    (request) => {
      mailTimes.push(Date.now());
      requests.push(request);
      return { queued: true as const };
    },
    {
      description: 'Mails a registration link (again), within the daily limit.',
      validator: (_request) => {
        if (ending) refuse(FlowEnding, 'This registration is ending; ask again in a moment.');
        if (mailTimes.filter((t) => t > Date.now() - DAY_MS).length >= REGISTRATION_MAILS_PER_DAY) {
          refuse(InvitationFailure.registrationLimitReached, 'Too many registration mails were sent to this address today. Use the last one or try again tomorrow.');
        }
      },
    },
  );
  setHandler(carriedInvitationAnsweredSignal, (answer) => void carriedAnswers.set(answer.invitationId, answer), { description: "The carried invitation's flow answers whether it bound the new account." });
  setHandler(
    createValidatedAccountUpdate,
    async ({ invitationId, ...account }) => {
      // A retry of a request cut off mid-way answers once the first attempt has
      // finished, carried invitation included, so a sign-in right after finds it bound.
      while (creating) await condition(() => !creating);
      if (accountId !== undefined) refuse(InvitationFailure.accountExists, 'An account has already been created with this email validation.');
      creating = true;
      try {
        const created = await unlessRefused(described(databaseSteps().createValidatedAccount, `create the account of ${input.email}`, { ...account, email: input.email }), InvitationFailure, RECORDED_ACCOUNT_REFUSALS);
        accountId = created.accountId;
        // Bound by this flow rather than by the API, so a request cut off here still ends with the invitation bound.
        const invitation = invitationId === undefined ? undefined : await bindCarriedInvitation(invitationId, created.accountId);
        return { ...created, ...(invitation ? { invitation } : {}) };
      } finally {
        creating = false;
      }
    },
    {
      description: 'The account form behind the link: creates the account, binding the invitation it carries.',
      validator: (_account) => {
        if (accountId !== undefined && !creating) refuse(InvitationFailure.accountExists, 'An account has already been created with this email validation.');
        // The last link has lapsed and the flow is ending: its outcome ("lapsed") stays true.
        if (ending) refuse(FlowEnding, 'This registration has ended.');
      },
    },
  );

  narrateStep();
  while (accountId === undefined) {
    const busy = await condition(() => sent < requests.length || creating || accountId !== undefined, Math.max(lastLinkExpiresAt - Date.now(), 1), timer('last registration link lapses'));
    if (!busy) break;
    while (sent < requests.length && accountId === undefined) {
      const expiresOn = Date.now() + input.ttlMs;
      const { firstName, lastName } = requests[sent];
      namesByLink.set(new Date(expiresOn).toISOString(), { firstName, lastName });
      await described(sendEmailValidationEmail, `send registration link to ${input.email}`, { ...requests[sent], email: input.email, sequence: sent, expiresOn: new Date(expiresOn).toISOString() });
      lastLinkExpiresAt = expiresOn;
      sent++;
      if (patched(EXPIRES_AT_PER_MAIL)) upsertSearchAttributes([{ key: ExpiresAt, value: new Date(expiresOn) }]);
      narrateStep();
    }
    await condition(() => !creating);
  }
  // No request is taken from here on: one that came now would wait for a mail nobody sends.
  ending = true;
  step = accountId === undefined ? 'lapsed' : 'account_created';
  upsertSearchAttributes([
    { key: FlowStep, value: step },
    { key: ExpiresAt, value: null },
  ]);
  narrateStep();
  await condition(allHandlersFinished);
  return step;
}

// An invitation may wait for months: it moves to each new worker version (its changes are patched).
versionedAs('AUTO_UPGRADE', membershipInvitationWorkflow);
// A registration lives a day or so: it finishes where it started.
versionedAs('PINNED', accountEmailValidationWorkflow);
