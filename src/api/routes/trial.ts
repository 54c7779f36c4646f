import crypto from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowIdConflictPolicy } from '@temporalio/common';
import type { ApiDeps } from '../app';
import { asPages, dbId, HttpError, parse, plainText } from '../http';
import { requireCsrf } from '../pages';
import { endSessions, hashPassword, passwordProblem, signIn } from '../../shared/auth';
import { clearSession, requireAccount, sessionAccountId, signedIn, startSession, tooManySignIns } from '../sessions';
import { safeEqual, TokenError } from '../../shared/tokens';
import {
  accountExists,
  issueEmbedToken,
  MAILS_PER_HOUR,
  passwordResetWorkflowId,
  readPasswordResetToken,
  resetPassword,
  readTrialHome,
  readTrialInfos,
  readVerificationToken,
  registrationMailsSince,
  trialUsername,
  trialWorkflowId,
  welcomeBackWorkflowId,
} from '../../services/trial';
import type { trialPasswordResetWorkflow, trialWelcomeBackWorkflow, trialWorkflow } from '../../workflows/trial/workflow';
import {
  completeTrialUpdate,
  createAccountUpdate,
  extendTrialUpdate,
  requestVerificationEmailUpdate,
  TrialFailure,
  verifyTokenUpdate,
  trialSearchAttributes,
} from '../../workflows/trial/messages';
import {
  linkProblemPage,
  LinkProblem,
  loginPage,
  newPasswordPage,
  passwordChangedPage,
  passwordResetRequestPage,
  passwordResetSentPage,
  registrationPage,
  trialExpiredPage,
  trialHomePage,
  trialReadyPage,
} from '../views/trial';


/** The same answer for known and unknown addresses: registration never reveals who has an account. */
const REGISTERED = { status: 'accepted', message: 'If this address can start a free trial, an email is on its way to it.' };

const optionalName = (max: number) => plainText(max).optional();
const registerBody = z.object({ username: trialUsername, firstname: optionalName(100), lastname: optionalName(100), company: optionalName(200) });
const tokenField = z.string({ error: 'is required.' }).trim().min(1, 'is required.').max(4096, 'is too long.');
const verifyBody = z.object({ token: tokenField });
const creationBody = z.object({ token: tokenField, password: z.string({ error: 'is required.' }).max(1024, 'is too long.'), firstname: optionalName(100), lastname: optionalName(100) });
const registrationForm = creationBody.extend({ confirmation: z.string().max(1024).optional() });
const infosQuery = z.object({ username: trialUsername });
const extendBody = z.object({ username: trialUsername, days: z.number({ error: 'must be a whole number of days.' }).int('must be a whole number of days.').min(1, 'must be at least 1.').max(365, 'must be at most 365.') });
const completionBody = z.object({ username: trialUsername });
const embedBody = z.object({ username: trialUsername, appId: dbId });
const loginBody = z.object({ username: z.string({ error: 'is required.' }).trim().min(1, 'is required.').max(254), password: z.string({ error: 'is required.' }).max(1024) });

/** A refused link, told apart so the API and the pages can say which. */
class LinkRefusal extends HttpError {
  constructor(
    readonly kind: LinkProblem,
    reason: string,
    readonly about: 'trial' | 'password-reset' = 'trial',
  ) {
    super(kind === 'unknown' ? 404 : 410, reason, { code: kind === 'unknown' ? 'unknown_token' : kind === 'used' ? 'token_used' : 'token_expired' });
  }
}

/** HTTP face of the free-trial flow (workflow `trial/<email>`): JSON API for the auth service and operators, plus the pages a person uses. */
export function trialRoutes(deps: ApiDeps): Router {
  const { config, db, signer, temporal } = deps;
  const router = new Router();
  const trialHandle = (email: string) => temporal.workflow.getHandle(trialWorkflowId(email));

  /* ---- translating workflow outcomes ---- */

  function failureType(err: unknown): string | undefined {
    return err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure ? (err.cause.type ?? undefined) : undefined;
  }

  function asHttpError(err: unknown): unknown {
    const type = failureType(err);
    const message = err instanceof WorkflowUpdateFailedError ? (err.cause?.message ?? '') : '';
    switch (type) {
      case TrialFailure.tokenUsed:
        return new LinkRefusal('used', message);
      case TrialFailure.tokenExpired:
        return new LinkRefusal('expired', message);
      case TrialFailure.throttled:
        return new HttpError(429, `At most ${MAILS_PER_HOUR} emails per address per hour: try again later.`, { retryAfterSeconds: 3600 });
      case TrialFailure.accountExists:
        return new HttpError(409, message, { code: 'account_exists' });
      case TrialFailure.notRunning:
        return new HttpError(409, message, { code: 'trial_not_running' });
      case TrialFailure.unavailable:
        return new HttpError(503, message);
    }
    return err;
  }

  /** The checks any holder of a link gets: MAC, type, expiry (TokenSigner), then single use (the workflow). */
  function readToken(token: string): { email: string; tokenHash: string } {
    try {
      return readVerificationToken(signer, token);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      if (err.problem === 'expired') throw new LinkRefusal('expired', 'This link has expired.');
      throw new LinkRefusal('unknown', 'This link is not valid.');
    }
  }

  /** A signed token whose flow has ended: it expired unused, or its trial is over. */
  const flowEnded = () => new LinkRefusal('expired', 'This link can no longer be used.');

  async function updateTrial<T>(email: string, call: (handle: ReturnType<typeof trialHandle>) => Promise<T>, whenEnded: () => unknown): Promise<T> {
    try {
      return await call(trialHandle(email));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw whenEnded();
      throw asHttpError(err);
    }
  }

  async function verifyToken(token: string) {
    const { email, tokenHash } = readToken(token);
    return updateTrial(email, (h) => h.executeUpdate(verifyTokenUpdate, { args: [{ tokenHash }] }), flowEnded);
  }

  async function createAccount(token: string, password: string, firstName?: string, lastName?: string) {
    const { email, tokenHash } = readToken(token);
    const weak = passwordProblem(password);
    if (weak) throw new HttpError(400, `password: ${weak}`);
    // Only the password hash goes to the workflow: the password itself never reaches Temporal's history.
    const passwordHash = await hashPassword(password);
    return updateTrial(email, (h) => h.executeUpdate(createAccountUpdate, { args: [{ tokenHash, passwordHash, firstName, lastName }] }), flowEnded);
  }

  /* ---- registration ---- */

  /** Starts, or reaches the running, one-mail flow for an address (welcome back, password reset). */
  async function startMailFlow(workflowType: 'trialWelcomeBackWorkflow' | 'trialPasswordResetWorkflow', workflowId: string, step: string, email: string): Promise<void> {
    await temporal.workflow.start<typeof trialWelcomeBackWorkflow | typeof trialPasswordResetWorkflow>(workflowType, {
      workflowId,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      taskQueue: config.temporal.taskQueue,
      args: [{ email, requestId: crypto.randomUUID() }],
      typedSearchAttributes: trialSearchAttributes(email, step),
    });
  }

  const startWelcomeBack = (email: string) => startMailFlow('trialWelcomeBackWorkflow', welcomeBackWorkflowId(email), 'welcome_back', email);

  async function startTrialOrResend(body: z.infer<typeof registerBody>): Promise<void> {
    const email = body.username;
    const names = { firstName: body.firstname ?? '', lastName: body.lastname ?? '', company: body.company ?? '' };
    try {
      await temporal.workflow.start<typeof trialWorkflow>('trialWorkflow', {
        workflowId: trialWorkflowId(email),
        taskQueue: config.temporal.taskQueue,
        args: [{ email, ...names, verificationTtlMs: config.ttl.trialVerification, trialLengthMs: config.ttl.trialLength, reminderBeforeMs: config.ttl.trialReminderBefore }],
        typedSearchAttributes: trialSearchAttributes(email, 'awaiting_verification'),
      });
      return;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    // A trial for this address is already running: the same flow sends the mail again.
    try {
      await trialHandle(email).executeUpdate(requestVerificationEmailUpdate, { args: [names] });
    } catch (err) {
      const type = failureType(err);
      if (type === TrialFailure.alreadyVerified) return startWelcomeBack(email);
      if (type === TrialFailure.tokenExpired || err instanceof WorkflowNotFoundError) {
        throw new HttpError(409, 'The previous trial request for this address is just ending: try again in a minute.');
      }
      throw asHttpError(err);
    }
  }

  const register: Middleware = async (ctx) => {
    const body = parse(registerBody, ctx.request.body);
    const email = body.username;
    // Both reads at once; the throttle still decides first.
    const [mailsLastHour, hasAccount] = await Promise.all([registrationMailsSince(db, email, new Date(Date.now() - 3_600_000)), accountExists(db, email)]);
    if (mailsLastHour >= MAILS_PER_HOUR) {
      throw new HttpError(429, `At most ${MAILS_PER_HOUR} emails per address per hour: try again later.`, { retryAfterSeconds: 3600 });
    }
    // Both branches only hand work to Temporal: the mail itself is sent in the background, so timing reveals little.
    if (hasAccount) await startWelcomeBack(email);
    else await startTrialOrResend(body);
    ctx.status = 202;
    ctx.body = REGISTERED;
  };
  router.post('/api/trial/register', register);
  router.post('/api/legacy/trial/register', register);

  /* ---- the auth service's calls ---- */

  /**
   * The trial's service endpoints answer the auth service (Keycloak's
   * authenticators): with TRIAL_SERVICE_TOKEN set, only a caller that sends
   * it in `X-Service-Token`; in production, none until it is set. Without the
   * credential every username gets the same refusal.
   */
  const requireTrialService: Middleware = async (ctx, next) => {
    const expected = config.trialServiceToken;
    if (!expected) {
      if (config.production) throw new HttpError(403, 'The trial service endpoints are disabled: the server has no TRIAL_SERVICE_TOKEN.', { code: 'service_disabled' });
      return next();
    }
    const given = ctx.get('X-Service-Token');
    if (!given) throw new HttpError(401, 'Service credential required: send X-Service-Token.', { code: 'service_credential_required' });
    if (!safeEqual(given, expected)) throw new HttpError(403, 'The service credential is not valid.', { code: 'service_credential_invalid' });
    await next();
  };

  router.post('/api/trial/verify', requireTrialService, async (ctx) => {
    const { token } = parse(verifyBody, ctx.request.body);
    const verified = await verifyToken(token);
    ctx.body = { username: verified.username };
  });

  router.post('/api/trial/creation', requireTrialService, async (ctx) => {
    const body = parse(creationBody, ctx.request.body);
    const created = await createAccount(body.token, body.password, body.firstname, body.lastname);
    ctx.status = 201;
    ctx.body = { username: created.username, appId: created.appId, trialEndsAt: created.trialEndsAt };
  });

  router.get('/api/trial/infos', requireTrialService, async (ctx) => {
    const { username } = parse(infosQuery, ctx.query);
    const infos = await readTrialInfos(db, username);
    if (!infos) throw new HttpError(404, 'No trial for this username.');
    ctx.body = infos;
  });

  /* ---- operators ---- */

  const requireOperator: Middleware = async (ctx, next) => {
    if (!config.adminToken) throw new HttpError(403, 'Operator endpoints are disabled: the server has no ADMIN_TOKEN.', { code: 'operator_disabled' });
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'));
    if (!match) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new HttpError(401, 'Operator key required: send Authorization: Bearer <ADMIN_TOKEN>.');
    }
    if (!safeEqual(match[1], config.adminToken)) throw new HttpError(403, 'The operator key is not valid.');
    await next();
  };

  /** Extend/complete on a trial whose flow has ended: say what it is instead. */
  const closedTrial = (username: string) => async () => {
    const infos = await readTrialInfos(db, username);
    if (!infos) return new HttpError(404, 'No trial for this username.');
    return new HttpError(409, `The trial is ${infos.status.replace('_', ' ')} and can no longer change.`, { code: 'trial_not_running', status: infos.status });
  };

  router.post('/api/trial/extend', requireOperator, async (ctx) => {
    const { username, days } = parse(extendBody, ctx.request.body);
    const ended = closedTrial(username);
    let result: { trialEndsAt: string };
    try {
      result = await trialHandle(username).executeUpdate(extendTrialUpdate, { args: [{ days }] });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw await ended();
      throw asHttpError(err);
    }
    ctx.body = { username, status: 'active', trialEndsAt: result.trialEndsAt };
  });

  router.post('/api/trial/completion', requireOperator, async (ctx) => {
    const { username } = parse(completionBody, ctx.request.body);
    try {
      await trialHandle(username).executeUpdate(completeTrialUpdate, { args: [] });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw asHttpError(err);
      // Completing a converted trial again is a no-op, so an operator can retry safely.
      if ((await readTrialInfos(db, username))?.status !== 'converted') throw await closedTrial(username)();
    }
    ctx.body = { username, status: 'converted' };
  });

  /* ---- the trial user ---- */

  router.post('/api/trial/login', async (ctx) => {
    const { username, password } = parse(loginBody, ctx.request.body);
    ctx.body = { accessToken: signedIn(await signIn(db, signer, username, password, ctx.ip)), tokenType: 'Bearer' };
  });

  router.post('/api/trial/embed-token', requireTrialService, requireAccount(deps), async (ctx) => {
    const { username, appId } = parse(embedBody, ctx.request.body);
    const result = await issueEmbedToken({ db, embedSigner: deps.embedSigner, ttlMs: config.ttl.embedToken, issuer: config.publicUrl }, { accountId: ctx.state.accountId as number, username, appId });
    if ('refused' in result) {
      if (result.refused === 'not_yours') throw new HttpError(403, 'The access token belongs to another user.', { code: 'not_yours' });
      if (result.refused === 'unknown_app') throw new HttpError(404, 'No such app for this user.', { code: 'unknown_app' });
      throw new HttpError(403, 'The free trial has expired.', { code: 'trial_expired' });
    }
    ctx.body = result;
  });

  // The public keys that verify embed tokens (a JWK Set).
  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = deps.embedSigner.jwks();
  });

  /* ---- pages ---- */

  /** Link problems get their own page; every other refusal goes to the shared error page. */
  async function showingLinkProblems(ctx: Context, render: () => Promise<void>): Promise<void> {
    try {
      await render();
    } catch (err) {
      if (err instanceof LinkRefusal) return linkProblemPage(ctx, err.kind, err.reason, err.about);
      throw err;
    }
  }

  router.get('/trial/register', asPages, async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    await showingLinkProblems(ctx, async () => {
      if (!token) throw new LinkRefusal('unknown', 'This link has no token.');
      const verified = await verifyToken(token);
      registrationPage(ctx, signer, { token, username: verified.username, firstName: verified.firstName, lastName: verified.lastName });
    });
  });

  router.post('/trial/register', asPages, requireCsrf(signer), async (ctx) => {
    const body = parse(registrationForm, ctx.request.body);
    await showingLinkProblems(ctx, async () => {
      const { email } = readToken(body.token);
      const again = (error: string) =>
        registrationPage(ctx, signer, { token: body.token, username: email, firstName: body.firstname ?? '', lastName: body.lastname ?? '', error }, 400);
      if (body.password !== body.confirmation) return again('The two passwords differ.');
      const weak = passwordProblem(body.password);
      if (weak) return again(weak);
      try {
        const created = await createAccount(body.token, body.password, body.firstname, body.lastname);
        trialReadyPage(ctx, created);
      } catch (err) {
        if (err instanceof HttpError && err.status === 409) return again(err.reason);
        throw err;
      }
    });
  });

  router.get('/login', asPages, (ctx) => loginPage(ctx, signer));

  router.post('/login', asPages, requireCsrf(signer), async (ctx) => {
    const { username, password } = parse(loginBody, ctx.request.body);
    const result = await signIn(db, signer, username, password, ctx.ip);
    if (result.outcome === 'throttled') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      return loginPage(ctx, signer, { username, error: tooManySignIns(result.retryAfterSeconds).reason }, 429);
    }
    if (result.outcome !== 'signed_in') return loginPage(ctx, signer, { username, error: 'Wrong username or password.' }, 401);
    const home = await readTrialHome(db, result.accountId);
    if (home?.infos?.expired) return trialExpiredPage(ctx, home.infos);
    startSession(ctx, result.accessToken);
    ctx.status = 303;
    ctx.redirect('/trial/app');
  });

  // Signing out ends every session of the account, not only this browser's.
  router.post('/logout', asPages, requireCsrf(signer), async (ctx) => {
    const accountId = await sessionAccountId(ctx, deps);
    if (accountId !== undefined) await endSessions(db, accountId);
    clearSession(ctx);
    ctx.status = 303;
    ctx.redirect('/login');
  });

  router.get('/trial/app', asPages, async (ctx) => {
    const accountId = await sessionAccountId(ctx, deps);
    const home = accountId === undefined ? undefined : await readTrialHome(db, accountId);
    if (!home) {
      ctx.status = 303;
      return ctx.redirect('/login');
    }
    if (home.infos?.expired) return trialExpiredPage(ctx, home.infos);
    trialHomePage(ctx, signer, home);
  });

  /* ---- password reset (linked from the "welcome back" mail) ---- */

  /** Reset-link failures, as a page: the reason tells used from expired. */
  function resetLinkRefusal(err: unknown): LinkRefusal {
    if (!(err instanceof TokenError)) throw err;
    if (err.problem === 'expired') return new LinkRefusal('expired', 'This password-reset link has expired.', 'password-reset');
    if (err.problem === 'mismatch') return new LinkRefusal('used', 'This password-reset link was already used.', 'password-reset');
    return new LinkRefusal('unknown', 'This password-reset link is not valid.', 'password-reset');
  }

  router.get('/trial/password-reset', asPages, (ctx) => passwordResetRequestPage(ctx, signer));

  router.post('/trial/password-reset', asPages, requireCsrf(signer), async (ctx) => {
    const { username: email } = parse(completionBody, ctx.request.body);
    // Started for every address, so the answer and its timing do not tell who has an account.
    await startMailFlow('trialPasswordResetWorkflow', passwordResetWorkflowId(email), 'password_reset', email);
    passwordResetSentPage(ctx);
  });

  router.get('/trial/password-reset/new', asPages, async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    await showingLinkProblems(ctx, async () => {
      const account = await readPasswordResetToken(db, signer, token).catch((err) => {
        throw resetLinkRefusal(err);
      });
      newPasswordPage(ctx, signer, { token, username: account.username });
    });
  });

  router.post('/trial/password-reset/new', asPages, requireCsrf(signer), async (ctx) => {
    const body = parse(z.object({ token: tokenField, password: z.string({ error: 'is required.' }).max(1024), confirmation: z.string().max(1024).optional() }), ctx.request.body);
    await showingLinkProblems(ctx, async () => {
      const account = await readPasswordResetToken(db, signer, body.token).catch((err) => {
        throw resetLinkRefusal(err);
      });
      const weak = body.password !== body.confirmation ? 'The two passwords differ.' : passwordProblem(body.password);
      if (weak) return newPasswordPage(ctx, signer, { token: body.token, username: account.username, error: weak }, 400);
      const passwordHash = await hashPassword(body.password);
      await resetPassword(db, signer, body.token, passwordHash).catch((err) => {
        throw resetLinkRefusal(err);
      });
      passwordChangedPage(ctx);
    });
  });

  return router;
}
