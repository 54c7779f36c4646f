import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { WithStartWorkflowOperation } from '@temporalio/client';
import type { ApiDeps } from '../app';
import type { Config } from '../../config';
import { asPages, dbId, HttpError, parse, plainText, tokenRefusal, waitAtMost } from '../http';
import { requireCsrf, sendPage } from '../pages';
import { hashPassword, issueAccessToken, passwordProblem, signIn as signInWithPassword } from '../../shared/auth';
import { requireAccount, sessionAccountId, startSession, tooManySignIns } from '../sessions';
import { TokenError, TokenSigner } from '../../shared/tokens';
import { log } from '../../shared/log';
import { emailAddress } from '../../shared/mail';
import { chooseLinkEndpoint, LinkEndpointError, LinkKind } from '../../shared/links';
import * as service from '../../services/invitations';
import {
  AccountCreationToken,
  CLOSED_MESSAGES,
  defaultEndpoints,
  EMAIL_VALIDATION_TOKEN,
  EmailValidationSignedToken,
  INVITEE_VERIFICATION_TOKEN,
  MEMBERSHIP_INVITATION_TOKEN,
  MembershipInvtnSignedToken,
} from '../../services/invitations';
import type { accountEmailValidationWorkflow, membershipInvitationWorkflow } from '../../workflows/invitation/workflow';
import {
  bindInvitee,
  BoundVia,
  createAccount,
  emailValidationSearchAttributes,
  emailValidationWorkflowId,
  InvitationInput,
  invitationRecorded,
  invitationSearchAttributes,
  invitationWorkflowId,
  InviteeVerificationAnswer,
  InviteeVerificationSignedToken,
  joinTeam,
  MembershipInvitation,
  NewAccount,
  Refusal,
  requestInviteeVerification,
  requestRegistrationLink,
  revokeInvitation,
  ValidationEmailRequest,
} from '../../workflows/invitation/messages';
import * as views from '../views/invitations';

/* ======================= flow calls shared by the API and the pages ======================= */

const REFUSAL_STATUS: Record<string, number> = { [Refusal.BadRequest]: 400, [Refusal.Forbidden]: 403, [Refusal.Conflict]: 409, [Refusal.Gone]: 410, [Refusal.TooMany]: 429, [Refusal.Ending]: 409 };

/** A flow that refused a request because it is finishing: the caller may start a new one. */
class EndingFlow extends HttpError {}

/** A workflow's refusal (validator or handler) anywhere in the error's cause chain. */
function refusalIn(err: unknown): HttpError | undefined {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof ApplicationFailure && e.type && e.type in REFUSAL_STATUS) {
      if (e.type === Refusal.Ending) return new EndingFlow(409, e.message);
      // A daily limit: the earliest it can free up is unknown here, an hour is an honest hint.
      return new HttpError(REFUSAL_STATUS[e.type], e.message, e.type === Refusal.TooMany ? { retryAfterSeconds: 3600 } : {});
    }
  }
  return undefined;
}

/** Runs an update on a flow; a refusal becomes its 4xx, a finished or unknown flow becomes `whenClosed()`. */
async function callFlow<T>(call: () => Promise<T>, whenClosed: () => Promise<HttpError>, remap: Record<number, number> = {}): Promise<T> {
  try {
    return await call();
  } catch (err) {
    // The SDK reports both a completed and an unknown workflow as WorkflowNotFoundError.
    const refusal = refusalIn(err) ?? (err instanceof WorkflowNotFoundError ? await whenClosed() : undefined);
    if (!refusal) throw err;
    if (refusal instanceof EndingFlow) throw refusal;
    const status = remap[refusal.status] ?? refusal.status;
    throw new HttpError(status, refusal.reason, refusal.extra);
  }
}

/** Why a flow no longer answers, read from the invitation row. */
async function closedInvitation(deps: ApiDeps, invitationId: number, status = 410): Promise<HttpError> {
  const row = await service.findInvitation(deps.db, invitationId);
  if (!row) return new HttpError(404, 'There is no such invitation.');
  return new HttpError(status, CLOSED_MESSAGES[service.closedReason(row) ?? 'expired']);
}

/** A caller-supplied link endpoint, when it is one allowed for its kind of link; a 400 that names the parameter otherwise. */
export function linkEndpoint(config: Config, kind: LinkKind, value: unknown, name: string): string {
  try {
    return chooseLinkEndpoint(config.linkEndpoints[kind], value, config.defaultLinkEndpoints[kind]);
  } catch (err) {
    if (err instanceof LinkEndpointError) throw new HttpError(400, `${name} ${err.problem}`);
    throw err;
  }
}

function invitationHandle(deps: ApiDeps, invitationId: number) {
  return deps.temporal.workflow.getHandle<typeof membershipInvitationWorkflow>(invitationWorkflowId(invitationId));
}

/** Starts the invitation's flow (or reaches it, for a retried request) and answers once it has recorded the invitation or refused it. */
export async function startInvitation(deps: ApiDeps, input: InvitationInput): Promise<MembershipInvitation> {
  return callFlow(
    () =>
      deps.temporal.workflow.executeUpdateWithStart(invitationRecorded, {
        startWorkflowOperation: new WithStartWorkflowOperation<typeof membershipInvitationWorkflow>('membershipInvitationWorkflow', {
          workflowId: invitationWorkflowId(input.invitationId),
          taskQueue: deps.config.temporal.taskQueue,
          args: [input],
          // Ids come from a sequence, so a running flow with this id is this very request, retried.
          workflowIdConflictPolicy: 'USE_EXISTING',
          typedSearchAttributes: invitationSearchAttributes(input),
        }),
      }),
    async () => new HttpError(409, 'The invitation could not be recorded; try again.'),
  );
}

/** Verifies a MembershipInvtnSignedToken; `id` binds it to the invitation named in the path. */
export function verifyInvitationToken(deps: ApiDeps, token: unknown, id?: number): MembershipInvtnSignedToken {
  const verified = deps.signer.verify<MembershipInvtnSignedToken>(MEMBERSHIP_INVITATION_TOKEN, token);
  if (id !== undefined && verified.membershipInvitationId !== String(id)) {
    throw new TokenError('mismatch', 'The token was issued for another invitation.');
  }
  return verified;
}

/** Seed phase 1 and 2: a verification token when the caller's email is the invited one, else a mail to the invited address. */
export async function requestVerification(deps: ApiDeps, invitationId: number, accountId: number, portalEndpoint: string, closedStatus = 400): Promise<InviteeVerificationAnswer> {
  const account = await service.findAccount(deps.db, accountId);
  if (!account) throw new HttpError(401, 'The signed-in account no longer exists.');
  return callFlow(
    () => invitationHandle(deps, invitationId).executeUpdate(requestInviteeVerification, { args: [{ accountId, accountEmail: account.email, portalEndpoint }] }),
    () => closedInvitation(deps, invitationId, closedStatus),
  );
}

export async function bindInvitation(deps: ApiDeps, invitationId: number, inviteeId: number, via: BoundVia, closedStatus = 410): Promise<MembershipInvitation> {
  return callFlow(
    () => invitationHandle(deps, invitationId).executeUpdate(bindInvitee, { args: [{ inviteeId, via }] }),
    () => closedInvitation(deps, invitationId, closedStatus),
  );
}

/** The one-click Join: allowed with an open invitation bound to the caller. True when this call made them a member. */
export async function joinWithInvitation(deps: ApiDeps, teamId: number, accountId: number): Promise<boolean> {
  if (await service.teamMember(deps.db, teamId, accountId)) return false;
  const invitation = await service.openInvitationFor(deps.db, teamId, accountId);
  const required = new HttpError(403, 'An invitation is required to join the team.');
  if (!invitation) throw required;
  await callFlow(
    () => invitationHandle(deps, invitation.id).executeUpdate(joinTeam, { args: [{ accountId }] }),
    async () => required,
    { 410: 403 },
  );
  return true;
}

/**
 * "Send registration info": the address's email-validation flow queues a
 * mail (Update-with-Start: the flow is started by the first request). Known
 * and unknown addresses get the same answer; the flow mails an account's
 * owner a notice instead of a link. The flow counts the day's mails itself,
 * so simultaneous requests cannot pass its limit together.
 */
export async function startEmailValidation(
  deps: ApiDeps,
  user: { email: string; firstName: string; lastName: string; encodedMembershipInvtnSignedToken?: string },
  portalEndpoint: string,
): Promise<void> {
  const email = user.email.toLowerCase();
  if (user.encodedMembershipInvtnSignedToken) {
    try {
      verifyInvitationToken(deps, TokenSigner.parse(user.encodedMembershipInvtnSignedToken));
    } catch (err) {
      tokenRefusal(err);
    }
  }
  const request = mailRequest(user, portalEndpoint);
  const start = async () =>
    deps.temporal.workflow.executeUpdateWithStart(requestRegistrationLink, {
      args: [request],
      startWorkflowOperation: new WithStartWorkflowOperation<typeof accountEmailValidationWorkflow>('accountEmailValidationWorkflow', {
        workflowId: emailValidationWorkflowId(email),
        taskQueue: deps.config.temporal.taskQueue,
        args: [{ email, ttlMs: deps.config.ttl.emailValidation, priorMailTimes: await service.registrationMailTimes(deps.db, email) }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        typedSearchAttributes: emailValidationSearchAttributes(email),
      }),
    });
  try {
    await callFlow(start, async () => new HttpError(409, 'Try again in a moment.'));
  } catch (err) {
    if (!(err instanceof EndingFlow)) throw err;
    // The address's previous flow was just finishing: once it has, the same request starts a new one.
    await waitAtMost(deps.temporal.workflow.getHandle(emailValidationWorkflowId(email)).result(), ACCOUNT_CREATION_SETTLES_WITHIN_MS);
    await callFlow(start, async () => new HttpError(409, 'Try again in a moment.'));
  }
}

function mailRequest(user: { firstName: string; lastName: string; encodedMembershipInvtnSignedToken?: string }, portalEndpoint: string): ValidationEmailRequest {
  return {
    firstName: user.firstName,
    lastName: user.lastName,
    portalEndpoint,
    ...(user.encodedMembershipInvtnSignedToken ? { encodedMembershipInvtnSignedToken: user.encodedMembershipInvtnSignedToken } : {}),
  };
}

export function verifyEmailValidationToken(deps: ApiDeps, token: unknown): EmailValidationSignedToken {
  const value = typeof token === 'string' ? TokenSigner.parse(token) : token;
  return deps.signer.verify<EmailValidationSignedToken>(EMAIL_VALIDATION_TOKEN, value);
}

export const USERNAME = /^[a-z0-9._-]{3,}$/;

/**
 * Standard account creation from a validated email; when the carried
 * invitation was sent to that email, it is bound to the new account at once.
 * Returns the account and the invitation that was bound, if any.
 */
export async function createAccountFromValidation(
  deps: ApiDeps,
  setup: { firstName: string; lastName: string; username: string; password: string; emailValidationSignedToken: unknown; encodedMembershipInvtnSignedToken?: string },
): Promise<{ accountId: number; invitation?: MembershipInvitation }> {
  let validated: EmailValidationSignedToken;
  try {
    validated = verifyEmailValidationToken(deps, setup.emailValidationSignedToken);
  } catch (err) {
    tokenRefusal(err);
  }
  const username = setup.username.trim().toLowerCase();
  if (!USERNAME.test(username)) throw new HttpError(400, 'username: use at least 3 characters: letters, digits, dot, dash or underscore.');
  const problem = passwordProblem(setup.password);
  if (problem) throw new HttpError(400, `password: ${problem}`);
  const validation = deps.temporal.workflow.getHandle<typeof accountEmailValidationWorkflow>(emailValidationWorkflowId(validated.email));
  const existing = (await service.findAccountByEmail(deps.db, validated.email)) ?? (await deps.db.account.findUnique({ where: { username } }));
  if (existing && existing.email?.toLowerCase() === validated.email.toLowerCase()) {
    // Most often a retry of a request cut off mid-way: answer once the first one has bound the carried invitation.
    await waitAtMost(validation.result(), ACCOUNT_CREATION_SETTLES_WITHIN_MS);
    throw new HttpError(409, 'This email validation was already used: an account exists for this address.');
  }
  if (existing) throw new HttpError(409, `The username "${username}" is already taken.`);
  const invitationId = carriedInvitationId(deps, setup.encodedMembershipInvtnSignedToken);
  const account: NewAccount = {
    username,
    firstName: setup.firstName.trim(),
    lastName: setup.lastName.trim(),
    passwordHash: await hashPassword(setup.password),
    ...(invitationId !== undefined ? { invitationId } : {}),
  };
  // The flow binds the carried invitation itself once the account exists, so the binding does not depend on this request finishing.
  return callFlow(
    () => validation.executeUpdate(createAccount, { args: [account] }),
    async () => new HttpError(410, 'This registration link has expired. Ask for a new one.'),
  );
}

/** How long a repeated account creation waits for the first one's flow to finish before it answers. */
const ACCOUNT_CREATION_SETTLES_WITHIN_MS = 60_000;

/** The invitation a registration carries, when its token is genuine; the account is created either way. */
function carriedInvitationId(deps: ApiDeps, encoded: string | undefined): number | undefined {
  if (!encoded) return undefined;
  try {
    return Number(verifyInvitationToken(deps, TokenSigner.parse(encoded)).membershipInvitationId);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    log.info({ reason: err.message }, 'carried invitation not bound');
    return undefined;
  }
}

/* ======================= API: /repo/v1/membershipInvitation ======================= */

const id = dbId;

const pathId = (value: string, what = 'invitation'): number => {
  if (!/^\d{1,9}$/.test(value)) throw new HttpError(404, `There is no such ${what}.`);
  return Number(value);
};

const invitationSubmission = z
  .object({
    teamId: id,
    inviteeId: id.optional(),
    inviteeEmail: emailAddress().optional(),
    message: plainText(1000, { multiline: true }).optional(),
    expiresOn: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((s) => (s.inviteeId === undefined) !== (s.inviteeEmail === undefined), { message: 'Exactly one of inviteeId and inviteeEmail is required.' });

const membershipInvtnSignedToken = z.object({ membershipInvitationId: z.string(), expiresOn: z.string(), createdOn: z.string(), hmac: z.string() }).loose();

const inviteeVerificationToken = z.object({ inviteeId: z.string(), membershipInvitationId: z.string(), expiresOn: z.string(), createdOn: z.string(), hmac: z.string() }).loose();

/** The optional `Idempotency-Key` header: a retried POST with the same key creates nothing new. */
function idempotencyKey(ctx: Context): string | undefined {
  const value = ctx.get('Idempotency-Key');
  if (value === '') return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) throw new HttpError(400, 'Idempotency-Key: use 1 to 255 visible ASCII characters.');
  return value;
}

/** The invitation an earlier request with the same key created: its row once recorded, else from its workflow (started here if that request stopped short). */
async function keyedInvitation(deps: ApiDeps, earlier: InvitationInput | 'mismatch'): Promise<MembershipInvitation> {
  if (earlier === 'mismatch') throw new HttpError(422, 'Idempotency-Key: this key was already used for a different request.');
  const row = await service.findInvitation(deps.db, earlier.invitationId);
  return row ? service.invitationToApi(row) : startInvitation(deps, earlier);
}

async function requireTeamAdmin(deps: ApiDeps, teamId: number, accountId: number): Promise<void> {
  if (!(await service.findTeam(deps.db, teamId))) throw new HttpError(404, 'There is no such team.');
  if (!(await service.isTeamAdmin(deps.db, teamId, accountId))) throw new HttpError(403, 'Only a team admin may do this.');
}

export function invitationRoutes(deps: ApiDeps): Router {
  const router = new Router({ prefix: '/repo/v1' });
  const auth = requireAccount(deps);
  const { db, config } = deps;

  router.post('/membershipInvitation', auth, async (ctx) => {
    const body = parse(invitationSubmission, ctx.request.body);
    const endpoint = linkEndpoint(config, 'acceptInvitation', ctx.query.acceptInvitationEndpoint, 'acceptInvitationEndpoint');
    const caller: number = ctx.state.accountId;
    const key = idempotencyKey(ctx);
    const request: service.InvitationRequest = {
      teamId: body.teamId,
      createdBy: caller,
      ...(body.inviteeId !== undefined ? { inviteeId: body.inviteeId } : {}),
      ...(body.inviteeEmail ? { inviteeEmail: body.inviteeEmail.toLowerCase() } : {}),
      ...(body.message ? { message: body.message } : {}),
      ...(body.expiresOn ? { expiresOn: new Date(body.expiresOn).toISOString() } : {}),
      acceptInvitationEndpoint: endpoint,
    };
    // A retry with the key answers with the first request's invitation, before checks whose outcome may have changed since.
    const earlier = key ? await service.findKeyedInvitation(db, caller, key, request) : undefined;
    if (earlier) {
      ctx.status = 201;
      ctx.body = await keyedInvitation(deps, earlier);
      return;
    }
    await requireTeamAdmin(deps, body.teamId, caller);
    if (body.expiresOn && Date.parse(body.expiresOn) <= Date.now()) throw new HttpError(400, 'expiresOn: must be in the future.');
    if (body.expiresOn && Date.parse(body.expiresOn) > Date.now() + config.ttl.invitationMaxLifetime) {
      throw new HttpError(400, `expiresOn: must be within ${Math.round(config.ttl.invitationMaxLifetime / 86_400_000)} days (INVITATION_MAX_LIFETIME).`);
    }
    if (body.inviteeId !== undefined) {
      if (!(await service.findAccount(db, body.inviteeId))) throw new HttpError(400, 'inviteeId: there is no such account.');
      if (await service.teamMember(db, body.teamId, body.inviteeId)) throw new HttpError(409, 'The invitee is already a member of the team.');
    }
    const input = { ...request, invitationId: await service.allocateInvitationId(db) };
    const claimed = key ? await service.claimIdempotencyKey(db, caller, key, input) : input;
    ctx.status = 201;
    ctx.body = claimed === input ? await startInvitation(deps, input) : await keyedInvitation(deps, claimed);
  });

  router.get('/membershipInvitation/statistics', auth, async (ctx) => {
    const { teamId } = parse(z.object({ teamId: id }), ctx.query);
    await requireTeamAdmin(deps, teamId, ctx.state.accountId);
    ctx.body = await service.invitationStatistics(db, teamId);
  });

  // Retrieve an invitation as the holder of its emailed token.
  router.post('/membershipInvitation/:id', async (ctx) => {
    const invitationId = pathId(ctx.params.id);
    const token = parse(membershipInvtnSignedToken, ctx.request.body);
    try {
      verifyInvitationToken(deps, token, invitationId);
    } catch (err) {
      tokenRefusal(err);
    }
    const row = await service.findInvitation(db, invitationId);
    if (!row) throw new HttpError(404, 'There is no such invitation.');
    const closed = service.closedReason(row);
    if (closed === 'withdrawn') throw new HttpError(410, CLOSED_MESSAGES.withdrawn);
    if (closed === 'expired') throw new HttpError(403, CLOSED_MESSAGES.expired);
    ctx.body = service.invitationToApi(row);
  });

  /**
   * Only the invitee may start an identity verification: an account with the
   * invited address, or whoever holds the emailed link (its serialized token
   * in `X-Invitation-Token`). Anyone else gets one answer, whatever the
   * invitation's state or existence, and nothing is mailed or counted.
   */
  router.get('/membershipInvitation/:id/inviteeVerificationSignedToken', auth, async (ctx) => {
    const invitationId = pathId(ctx.params.id);
    const portalEndpoint = linkEndpoint(config, 'inviteeVerification', ctx.query.portalEndpoint, 'portalEndpoint');
    const [row, account] = await Promise.all([service.findInvitation(db, invitationId), service.findAccount(db, ctx.state.accountId)]);
    const isInvitee = !!row?.inviteeEmail && account?.email === row.inviteeEmail;
    if (!row || !(isInvitee || holdsInvitationLink(ctx.get('X-Invitation-Token'), invitationId))) {
      throw new HttpError(403, 'Only the invitee may ask for this: sign in with the invited address, or send the invitation link\'s token in X-Invitation-Token.');
    }
    const answer = await requestVerification(deps, invitationId, ctx.state.accountId, portalEndpoint);
    if (!answer.verified) {
      throw new HttpError(403, 'The signed-in account does not have the invited email address. A verification link was sent to the invited address.', { verificationEmailSent: answer.mailed });
    }
    ctx.body = answer.token;
  });

  /** True when `serialized` is a genuine, unexpired MembershipInvtnSignedToken for this invitation. */
  function holdsInvitationLink(serialized: string, invitationId: number): boolean {
    if (!serialized) return false;
    try {
      verifyInvitationToken(deps, TokenSigner.parse(serialized), invitationId);
      return true;
    } catch (err) {
      if (err instanceof TokenError) return false;
      throw err;
    }
  }

  router.put('/membershipInvitation/:id/inviteeId', auth, async (ctx) => {
    const invitationId = pathId(ctx.params.id);
    const body = parse(inviteeVerificationToken, ctx.request.body);
    let token: InviteeVerificationSignedToken;
    try {
      token = deps.signer.verify<InviteeVerificationSignedToken>(INVITEE_VERIFICATION_TOKEN, body);
    } catch (err) {
      tokenRefusal(err);
    }
    if (token.membershipInvitationId !== String(invitationId)) throw new HttpError(400, 'The token is for another invitation than the one in the path.');
    if (token.inviteeId !== String(ctx.state.accountId)) throw new HttpError(403, 'The token was issued to another account.');
    if (!(await service.findInvitation(db, invitationId))) throw new HttpError(404, 'There is no such invitation.');
    ctx.body = await bindInvitation(deps, invitationId, ctx.state.accountId, 'existing_account', 403);
  });

  router.delete('/membershipInvitation/:id', auth, async (ctx) => {
    const invitationId = pathId(ctx.params.id);
    const row = await service.findInvitation(db, invitationId);
    if (!row) throw new HttpError(404, 'There is no such invitation.');
    const caller: number = ctx.state.accountId;
    const account = await service.findAccount(db, caller);
    const mayRevoke = row.inviteeId === caller || (row.inviteeEmail !== null && account?.email === row.inviteeEmail) || (await service.isTeamAdmin(db, row.teamId, caller));
    if (!mayRevoke) throw new HttpError(403, 'Only a team admin or the invitee may withdraw this invitation.');
    try {
      await callFlow(
        () => invitationHandle(deps, invitationId).executeUpdate(revokeInvitation, { args: [{ by: caller }] }),
        () => closedInvitation(deps, invitationId),
      );
    } catch (err) {
      // Withdrawing twice is not an error.
      if (!(err instanceof HttpError && err.reason === CLOSED_MESSAGES.withdrawn)) throw err;
    }
    ctx.status = 204;
  });

  router.get('/team/:id/openInvitation', auth, async (ctx) => {
    const teamId = pathId(ctx.params.id, 'team');
    await requireTeamAdmin(deps, teamId, ctx.state.accountId);
    const rows = await service.openInvitations(db, teamId);
    ctx.body = { totalNumberOfResults: rows.length, results: rows.map(service.invitationToApi) };
  });

  return router;
}

/* ======================= pages a person clicks through: /join/... ======================= */


/** Only our own pages are followed after sign-in: no open redirect. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/join\/[A-Za-z0-9/_-]*$/.test(value) ? value : '/join/teams';
}

const LINK_TITLES = {
  invalid: 'This link is not valid',
  expired: 'This link has expired',
  withdrawn: 'This invitation was withdrawn',
  used: 'This invitation has already been used',
} as const;

/** Every way an emailed link can fail gets its own page. */
function linkRefusal(err: unknown, what: string): never {
  if (err instanceof TokenError) {
    if (err.problem === 'expired') throw new HttpError(410, `This ${what} link has expired. Ask for a new one.`, {}, LINK_TITLES.expired);
    throw new HttpError(403, `This ${what} link is not valid: it may have been changed or cut off. Open it again from the mail.`, {}, LINK_TITLES.invalid);
  }
  throw err;
}

function closedPage(reason: service.ClosedReason): HttpError {
  const title = reason === 'withdrawn' ? LINK_TITLES.withdrawn : reason === 'used' ? LINK_TITLES.used : 'This invitation has expired';
  return new HttpError(410, CLOSED_MESSAGES[reason], {}, title);
}

const signInForm = z.object({ username: z.string().trim().min(1, 'Enter your username or email.').max(254), password: z.string().min(1, 'Enter your password.').max(1024) });
const registerForm = z.object({ firstName: z.string().trim().min(1, 'Enter your first name.').max(100), lastName: z.string().trim().min(1, 'Enter your last name.').max(100) });
const accountForm = registerForm.extend({
  username: z.string().trim().max(64),
  password: z.string().max(1024),
  acceptTerms: z.literal('on', { error: 'Accept the terms of use to create an account.' }),
});

export function invitationPages(deps: ApiDeps): Router {
  const router = new Router({ prefix: '/join' });
  const { db, signer, config } = deps;
  router.use(asPages);
  const csrf = requireCsrf(signer);

  /** An invitation link's token and the invitation it opens, or the page that says why not. */
  async function openInvitationLink(serialized: string) {
    let token: MembershipInvtnSignedToken;
    try {
      token = verifyInvitationToken(deps, TokenSigner.parse(serialized));
    } catch (err) {
      linkRefusal(err, 'invitation');
    }
    const row = await service.findInvitation(db, Number(token.membershipInvitationId));
    if (!row) throw new HttpError(404, 'This invitation does not exist.', {}, LINK_TITLES.invalid);
    const closed = service.closedReason(row);
    if (closed) throw closedPage(closed);
    const [team, inviter] = await Promise.all([service.findTeam(db, row.teamId), service.findAccount(db, row.createdBy)]);
    return { row, teamName: team?.name ?? `Team ${row.teamId}`, inviterName: inviter ? service.displayName(inviter) : 'A team admin' };
  }

  router.get('/invitation/:token', async (ctx) => {
    const opened = await openInvitationLink(ctx.params.token);
    sendPage(ctx, { title: `Join ${opened.teamName}`, body: views.invitationLanding(ctx.params.token, opened) });
  });

  router.get('/invitation/:token/register', async (ctx) => {
    const opened = await openInvitationLink(ctx.params.token);
    sendPage(ctx, { title: 'Create an account', body: views.registerForm(ctx, signer, ctx.params.token, opened.row.inviteeEmail ?? '') });
  });

  router.post('/invitation/:token/register', csrf, async (ctx) => {
    const opened = await openInvitationLink(ctx.params.token);
    const email = opened.row.inviteeEmail;
    if (!email) throw new HttpError(400, 'This invitation is for an existing account. Sign in instead.');
    let form: z.infer<typeof registerForm>;
    try {
      form = parse(registerForm, ctx.request.body);
      await startEmailValidation(deps, { email, ...form, encodedMembershipInvtnSignedToken: ctx.params.token }, defaultEndpoints(config).accountCreation);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status >= 500) throw err;
      if (err.extra.retryAfterSeconds) ctx.set('Retry-After', String(err.extra.retryAfterSeconds));
      return sendPage(ctx, { title: 'Create an account', status: err.status, body: views.registerForm(ctx, signer, ctx.params.token, email, err.reason) });
    }
    sendPage(ctx, { title: 'Check your email', body: views.checkYourEmail(email, config.ttl.emailValidation) });
  });

  router.get('/invitation/:token/sign-in', async (ctx) => {
    await openInvitationLink(ctx.params.token);
    sendPage(ctx, { title: 'Sign in', body: views.signInForm(ctx, signer, `/join/invitation/${ctx.params.token}/sign-in`) });
  });

  // "I already have an account": sign in, verify the invitee, bind, then the team page.
  router.post('/invitation/:token/sign-in', csrf, async (ctx) => {
    const opened = await openInvitationLink(ctx.params.token);
    const action = `/join/invitation/${ctx.params.token}/sign-in`;
    const accountId = await signIn(ctx, action);
    if (accountId === undefined) return;
    const { row } = opened;
    if (row.inviteeId !== null) {
      if (row.inviteeId !== accountId) throw new HttpError(403, 'This invitation was accepted by another account.', {}, 'Not your invitation');
      return ctx.redirect(`/join/team/${row.teamId}`);
    }
    const answer = await requestVerification(deps, row.id, accountId, defaultEndpoints(config).inviteeVerification, 410);
    if (!answer.verified) {
      return sendPage(ctx, { title: 'Confirm it is you', status: 403, body: views.verificationMailed(row.inviteeEmail ?? '', answer.mailed) });
    }
    await bindInvitation(deps, row.id, accountId, 'existing_account');
    ctx.redirect(`/join/team/${row.teamId}`);
  });

  /** Signs in from a posted form; renders the form again with the problem and returns undefined on failure. */
  async function signIn(ctx: Context, action: string): Promise<number | undefined> {
    const form = signInForm.safeParse(ctx.request.body ?? {});
    if (!form.success) {
      sendPage(ctx, { title: 'Sign in', status: 400, body: views.signInForm(ctx, signer, action, form.error.issues[0].message) });
      return undefined;
    }
    const result = await signInWithPassword(db, signer, form.data.username, form.data.password, ctx.ip);
    if (result.outcome === 'throttled') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      sendPage(ctx, { title: 'Sign in', status: 429, body: views.signInForm(ctx, signer, action, tooManySignIns(result.retryAfterSeconds).reason) });
      return undefined;
    }
    if (result.outcome !== 'signed_in') {
      sendPage(ctx, { title: 'Sign in', status: 401, body: views.signInForm(ctx, signer, action, 'Wrong username or password.') });
      return undefined;
    }
    startSession(ctx, result.accessToken);
    return result.accountId;
  }

  /** The registration link from the "Welcome" mail. */
  function openAccountLink(serialized: string): { validated: EmailValidationSignedToken; envelope: AccountCreationToken } {
    try {
      const envelope = TokenSigner.parse(serialized) as AccountCreationToken;
      const validated = verifyEmailValidationToken(deps, envelope?.emailValidationSignedToken);
      return { validated, envelope };
    } catch (err) {
      linkRefusal(err, 'registration');
    }
  }

  router.get('/account/:token', async (ctx) => {
    const { validated } = openAccountLink(ctx.params.token);
    if (await service.findAccountByEmail(db, validated.email)) throw new HttpError(409, 'This registration link was already used: an account exists for this address. Sign in instead.', {}, 'Account already created');
    sendPage(ctx, { title: 'Create your account', body: views.accountForm(ctx, signer, ctx.params.token, validated.email, config.termsOfServiceVersion) });
  });

  router.post('/account/:token', csrf, async (ctx) => {
    const { validated, envelope } = openAccountLink(ctx.params.token);
    let created: Awaited<ReturnType<typeof createAccountFromValidation>>;
    try {
      const form = parse(accountForm, ctx.request.body);
      created = await createAccountFromValidation(deps, {
        ...form,
        emailValidationSignedToken: envelope.emailValidationSignedToken,
        ...(typeof envelope.encodedMembershipInvtnSignedToken === 'string' ? { encodedMembershipInvtnSignedToken: envelope.encodedMembershipInvtnSignedToken } : {}),
      });
    } catch (err) {
      if (!(err instanceof HttpError) || err.status >= 500 || err.status === 410) throw err;
      const values = ctx.request.body as Record<string, string>;
      return sendPage(ctx, { title: 'Create your account', status: err.status, body: views.accountForm(ctx, signer, ctx.params.token, validated.email, config.termsOfServiceVersion, err.reason, values) });
    }
    startSession(ctx, issueAccessToken(signer, { id: created.accountId, sessionGeneration: 0 }));
    ctx.redirect(created.invitation ? `/join/team/${created.invitation.teamId}` : '/join/teams');
  });

  /** The identity-verification link (seed phase 2): the owner of the invited address binds it to the account that asked. */
  function openVerificationLink(serialized: string): InviteeVerificationSignedToken {
    try {
      return signer.parseAndVerify<InviteeVerificationSignedToken>(INVITEE_VERIFICATION_TOKEN, serialized);
    } catch (err) {
      linkRefusal(err, 'verification');
    }
  }

  router.get('/verify/:token', async (ctx) => {
    const token = openVerificationLink(ctx.params.token);
    const row = await service.findInvitation(db, Number(token.membershipInvitationId));
    if (!row) throw new HttpError(404, 'This invitation does not exist.', {}, LINK_TITLES.invalid);
    const closed = service.closedReason(row);
    if (closed) throw closedPage(closed);
    const account = await service.findAccount(db, Number(token.inviteeId));
    const team = await service.findTeam(db, row.teamId);
    sendPage(ctx, { title: 'Confirm the invitation', body: views.confirmVerification(ctx, signer, ctx.params.token, team?.name ?? '', account?.username ?? '', (await sessionAccountId(ctx, deps)) === Number(token.inviteeId)) });
  });

  router.post('/verify/:token', csrf, async (ctx) => {
    const token = openVerificationLink(ctx.params.token);
    const invitationId = Number(token.membershipInvitationId);
    let accountId = (await sessionAccountId(ctx, deps));
    if (accountId !== Number(token.inviteeId)) {
      accountId = await signIn(ctx, `/join/verify/${ctx.params.token}`);
      if (accountId === undefined) return;
    }
    if (accountId !== Number(token.inviteeId)) throw new HttpError(403, 'This confirmation is for another account. Sign in with the account named in the mail.', {}, 'Not your invitation');
    const bound = await bindInvitation(deps, invitationId, accountId, 'existing_account');
    ctx.redirect(`/join/team/${bound.teamId}`);
  });

  router.get('/team/:id', async (ctx) => {
    const teamId = pathId(ctx.params.id, 'team');
    const accountId = (await sessionAccountId(ctx, deps));
    if (accountId === undefined) return ctx.redirect(`/join/sign-in?next=${encodeURIComponent(ctx.path)}`);
    const team = await service.findTeam(db, teamId);
    if (!team) throw new HttpError(404, 'There is no such team.');
    const [member, invitation, members] = await Promise.all([
      service.teamMember(db, teamId, accountId),
      service.openInvitationFor(db, teamId, accountId),
      service.listTeamMembers(db, teamId),
    ]);
    sendPage(ctx, { title: team.name, body: views.teamPage(ctx, signer, { team, isMember: !!member, invitation, members, joined: ctx.query.joined === '1' }) });
  });

  router.post('/team/:id/join', csrf, async (ctx) => {
    const teamId = pathId(ctx.params.id, 'team');
    const accountId = (await sessionAccountId(ctx, deps));
    if (accountId === undefined) return ctx.redirect(`/join/sign-in?next=${encodeURIComponent(`/join/team/${teamId}`)}`);
    await joinWithInvitation(deps, teamId, accountId);
    ctx.redirect(`/join/team/${teamId}?joined=1`);
  });

  router.get('/teams', async (ctx) => {
    const accountId = (await sessionAccountId(ctx, deps));
    if (accountId === undefined) return ctx.redirect('/join/sign-in');
    const memberships = await db.teamMember.findMany({ where: { accountId } });
    const teams = await db.team.findMany({ where: { id: { in: memberships.map((m) => m.teamId) } }, orderBy: { id: 'asc' } });
    const invited = await db.membershipInvitation.findMany({ where: { inviteeId: accountId, joinedOn: null, revokedOn: null, expiredOn: null } });
    const invitedTeams = await db.team.findMany({ where: { id: { in: invited.map((i) => i.teamId) } } });
    sendPage(ctx, { title: 'Your teams', body: views.teamList(ctx, signer, teams, invitedTeams) });
  });

  router.get('/sign-in', async (ctx) => {
    sendPage(ctx, { title: 'Sign in', body: views.signInForm(ctx, signer, `/join/sign-in?next=${encodeURIComponent(safeNext(ctx.query.next))}`) });
  });

  router.post('/sign-in', csrf, async (ctx) => {
    const next = safeNext(ctx.query.next);
    if ((await signIn(ctx, `/join/sign-in?next=${encodeURIComponent(next)}`)) === undefined) return;
    ctx.redirect(next);
  });

  return router;
}
