import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createInvitationActivities } from '../../activities/invitations';
import { FlowStep } from '../../shared/searchAttributes';
import {
  bindInvitee,
  createAccount,
  EmailValidationInput,
  EmailValidationStep,
  emailValidationStep,
  InvitationInput,
  invitationRecorded,
  InvitationStep,
  invitationState,
  joinTeam,
  MembershipInvitation,
  Refusal,
  requestInviteeVerification,
  requestValidationEmail,
  revokeInvitation,
  ValidationEmailRequest,
  BoundVia,
} from './messages';

const {
  recordInvitation,
  sendInvitationEmail,
  sendInvitationNotification,
  recordInviteeBound,
  signInviteeVerificationToken,
  recordVerificationRefused,
  sendIdentityVerificationEmail,
  addInviteeToTeam,
  recordInvitationRevoked,
  recordInvitationExpired,
  sendEmailValidationEmail,
  createValidatedAccount,
} = proxyActivities<ReturnType<typeof createInvitationActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '1m', nonRetryableErrorTypes: [Refusal.Conflict] },
});

const DAY_MS = 24 * 3600_000;
/** Identity-verification mails per invitation and day: enough for typos, too few to spam an address. */
const VERIFICATION_MAILS_PER_DAY = 3;

function refuse(type: keyof typeof Refusal, message: string): never {
  throw ApplicationFailure.create({ type: Refusal[type], message, nonRetryable: true });
}

/** An activity's own refusal (e.g. username taken) becomes the update's refusal, so the API can answer 409. */
function asRefusal(err: unknown): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type && Object.values(Refusal).includes(err.cause.type as never)) {
    return ApplicationFailure.create({ type: err.cause.type, message: err.cause.message, nonRetryable: true });
  }
  return err;
}

/**
 * One team membership invitation, as in the seed's sequence diagram: record
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

  const enterStep = (next: InvitationStep) => {
    step = next;
    upsertSearchAttributes([{ key: FlowStep, value: next }]);
  };
  const isOpen = () => step === 'awaiting_invitee' || step === 'awaiting_join';
  const refuseUnlessOpen = () => {
    if (step === 'revoked') refuse('Gone', 'This invitation was withdrawn.');
    if (step === 'joined') refuse('Gone', 'This invitation has already been used.');
    if (step === 'expired') refuse('Gone', 'This invitation has expired.');
    if (!isOpen()) refuse('Conflict', 'The invitation is still being created; try again in a moment.');
  };

  // Binding and verification only apply to an emailed invitation whose invitee is not known yet.
  const refuseUnlessUnbound = (_request: unknown) => {
    refuseUnlessOpen();
    if (!input.inviteeEmail || inviteeId !== undefined) refuse('BadRequest', 'The invitation is already bound to an account.');
  };

  setHandler(invitationState, () => ({ step, invitation, inviteeId, boundVia }));

  setHandler(invitationRecorded, async () => {
    await condition(() => invitation !== undefined);
    return invitation!;
  });

  setHandler(
    bindInvitee,
    async ({ inviteeId: accountId, via }) => {
      inviteeId = accountId;
      boundVia = via;
      enterStep('awaiting_join');
      return await recordInviteeBound({ invitationId: input.invitationId, inviteeId: accountId, via });
    },
    { validator: refuseUnlessUnbound },
  );

  setHandler(
    requestInviteeVerification,
    async ({ accountId, accountEmail, portalEndpoint }) => {
      if (accountEmail.toLowerCase() === input.inviteeEmail) {
        return { verified: true, token: await signInviteeVerificationToken({ invitationId: input.invitationId, inviteeId: accountId }) };
      }
      await recordVerificationRefused({ invitationId: input.invitationId, teamId: input.teamId, sequence: ++refusals });
      const now = Date.now();
      if (verificationMailTimes.filter((t) => t > now - DAY_MS).length >= VERIFICATION_MAILS_PER_DAY) {
        return { verified: false, mailed: false };
      }
      verificationMailTimes.push(now);
      await sendIdentityVerificationEmail({
        invitationId: input.invitationId,
        inviteeId: accountId,
        portalEndpoint,
        sequence: verificationMailTimes.length,
      });
      return { verified: false, mailed: true };
    },
    { validator: refuseUnlessUnbound },
  );

  setHandler(
    joinTeam,
    async ({ accountId }) => {
      enterStep('joined');
      await addInviteeToTeam({ invitationId: input.invitationId, teamId: input.teamId, accountId });
    },
    {
      validator: ({ accountId }) => {
        refuseUnlessOpen();
        if (inviteeId !== accountId) refuse('Forbidden', 'An invitation is required to join the team.');
      },
    },
  );

  setHandler(
    revokeInvitation,
    async () => {
      enterStep('revoked');
      await recordInvitationRevoked({ invitationId: input.invitationId });
    },
    { validator: (_request) => refuseUnlessOpen() },
  );

  invitation = await recordInvitation(input);
  // Open from here on: the invitee may act (e.g. join by id) before the mail is out.
  enterStep(inviteeId === undefined ? 'awaiting_invitee' : 'awaiting_join');
  if (input.inviteeEmail) await sendInvitationEmail({ invitationId: input.invitationId, acceptInvitationEndpoint: input.acceptInvitationEndpoint });
  else await sendInvitationNotification({ invitationId: input.invitationId });

  const settled = await awaitJoinOrRevocation(input.expiresOn, () => !isOpen());
  if (!settled) {
    enterStep('expired');
    await recordInvitationExpired({ invitationId: input.invitationId });
  }
  // Let a running join or revocation finish its activity before the workflow completes.
  await condition(allHandlersFinished);
  return step;
}

/** Waits for the flow to be settled; false when `expiresOn` came first. No expiry: waits as long as it takes. */
async function awaitJoinOrRevocation(expiresOn: string | undefined, settled: () => boolean): Promise<boolean> {
  if (!expiresOn) {
    await condition(settled);
    return true;
  }
  const left = Date.parse(expiresOn) - Date.now();
  if (left <= 0) return settled();
  return condition(settled, left);
}

/**
 * One new-account email validation: mails the registration link (again on
 * each request) and waits until the account is created or the last link
 * has lapsed.
 */
export async function accountEmailValidationWorkflow(input: EmailValidationInput): Promise<EmailValidationStep> {
  let step: EmailValidationStep = 'awaiting_account';
  const requests: ValidationEmailRequest[] = [];
  let sent = 0;
  let lastLinkExpiresAt = Date.now() + input.ttlMs;
  let creating = false;
  let accountId: number | undefined;

  setHandler(emailValidationStep, () => step);
  setHandler(requestValidationEmail, (request) => void requests.push(request));
  setHandler(
    createAccount,
    async (account) => {
      creating = true;
      try {
        const created = await createValidatedAccount({ ...account, email: input.email });
        accountId = created.accountId;
        return created;
      } catch (err) {
        throw asRefusal(err);
      } finally {
        creating = false;
      }
    },
    {
      validator: (_account) => {
        if (accountId !== undefined || creating) refuse('Conflict', 'An account has already been created with this email validation.');
      },
    },
  );

  while (accountId === undefined) {
    const busy = await condition(() => sent < requests.length || creating || accountId !== undefined, Math.max(lastLinkExpiresAt - Date.now(), 1));
    if (!busy) break;
    while (sent < requests.length && accountId === undefined) {
      const expiresOn = Date.now() + input.ttlMs;
      await sendEmailValidationEmail({ ...requests[sent], email: input.email, sequence: sent, expiresOn: new Date(expiresOn).toISOString() });
      lastLinkExpiresAt = expiresOn;
      sent++;
    }
    await condition(() => !creating);
  }
  step = accountId === undefined ? 'lapsed' : 'account_created';
  upsertSearchAttributes([{ key: FlowStep, value: step }]);
  await condition(allHandlersFinished);
  return step;
}
