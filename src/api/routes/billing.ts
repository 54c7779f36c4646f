import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, UpdateDefinition, WorkflowNotFoundError } from '@temporalio/common';
import type { ApiDeps } from '../app';
import { asPages, HttpError, parse, waitAtMost } from '../http';
import { requireCsrf } from '../pages';
import { TokenError } from '../../shared/tokens';
import { Email, FlowKind, FlowStep, RealmUuid, ServerUuid } from '../../shared/searchAttributes';
import {
  authenticateServer,
  BillingUserView,
  confirmationLimitReached,
  findBillingUser,
  findBillingUserById,
  findConfirmation,
  findRealm,
  findServer,
  issueAccessToken,
  issueServerLoginToken,
  issueSessionToken,
  readSessionToken,
  tosConsentNeeded,
  verifyAccessToken,
  verifyServerLoginToken,
} from '../../services/billing';
import { billingLogin } from '../../workflows/billing/workflow';
import {
  BillingIdentity,
  billingLoginStep,
  billingLoginWorkflowId,
  CONFIRMATION_LIMIT_REACHED,
  confirmationsSettled,
  confirmEmail,
  confirmLogin,
  NEXT_PAGES,
  NextPage,
  requestConfirmationEmail,
} from '../../workflows/billing/messages';
import {
  identityAbout,
  sendCheckEmailPage,
  sendConfirmLoginPage,
  sendEmailFormPage,
  sendPortalPage,
  sendServerLoginPage,
  TOS_REQUIRED,
} from '../views/billing';

export const SESSION_COOKIE = 'fg_billing_session';
/** How long a page waits for a confirmation link still being processed (e.g. while the worker restarts). */
const PENDING_CONFIRMATION_WAIT_MS = 20_000;

const emailForm = z.object({ email: z.email('Enter a valid email address.').max(254) });
const confirmLoginForm = z.object({
  full_name: z.string().trim().min(1, 'Enter your full name.').max(100),
  enable_major_release_emails: z.literal('on').optional(),
  enable_maintenance_release_emails: z.literal('on').optional(),
  tos_consent: z.literal('on').optional(),
});
const nextPageParam = z.enum(NEXT_PAGES, `next_page must be one of ${NEXT_PAGES.join(', ')}`).nullish();

/**
 * Zulip's billing portal pages: the access URL from a self-hosted server,
 * the legacy server-level login, the email confirmation and the signed-in pages.
 */
export function billingPortalRoutes(deps: ApiDeps): Router {
  const { config, db, signer, temporal } = deps;
  const router = new Router();
  router.use(asPages);
  const csrf = requireCsrf(signer);

  function accessIdentity(token: string, kind: 'realm' | 'server', serverUuid?: string): BillingIdentity {
    try {
      const identity = verifyAccessToken(signer, token, kind);
      if (serverUuid !== undefined && identity.serverUuid !== serverUuid) throw new TokenError('mismatch', 'wrong server');
      return identity;
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      if (err.problem === 'expired') throw new HttpError(410, 'Your billing access link has expired. Start again from your server.', {}, 'Billing access token expired.');
      throw new HttpError(400, 'This billing access link is not valid. Start again from your server.', {}, 'Invalid billing access token.');
    }
  }

  /** The server must still be registered and active for any login step. */
  async function activeServer(uuid: string) {
    const server = await findServer(db, uuid);
    if (!server) throw new HttpError(403, `Zulip server ${uuid} is not registered.`, {}, 'Unknown server');
    if (server.deactivated) throw new HttpError(403, 'Your server registration has been deactivated.', {}, 'Server deactivated');
    return server;
  }

  async function organizationOf(identity: Pick<BillingIdentity, 'kind' | 'realmUuid' | 'serverUuid'>) {
    if (identity.kind === 'realm') {
      const realm = await findRealm(db, identity.realmUuid!);
      if (!realm) throw new HttpError(404, 'This organization is not registered.', {}, 'Unknown organization');
      return { label: 'Organization', name: realm.name, host: realm.host, uuid: realm.uuid };
    }
    const server = await activeServer(identity.serverUuid);
    return { label: 'Server', name: server.hostname, host: server.hostname, uuid: server.uuid };
  }

  function loginStart(identity: BillingIdentity, emailConfirmed: boolean) {
    return new WithStartWorkflowOperation(billingLogin, {
      workflowId: billingLoginWorkflowId(identity),
      taskQueue: config.temporal.taskQueue,
      args: [{ identity, emailConfirmed, confirmationTtlMs: config.ttl.billingConfirmation, loginTtlMs: config.ttl.billingAccessToken }],
      // A second request while a login is pending reaches the same workflow.
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: [
        { key: FlowKind, value: 'billing-login' },
        { key: FlowStep, value: emailConfirmed ? 'awaiting_login' : 'awaiting_email_confirmation' },
        { key: Email, value: identity.email.toLowerCase() },
        { key: ServerUuid, value: identity.serverUuid },
        ...(identity.realmUuid ? [{ key: RealmUuid, value: identity.realmUuid }] : []),
      ],
    });
  }

  /** Update-with-start on the login's workflow; refusals by the workflow become readable pages. */
  async function updateLogin<Ret, Arg>(update: UpdateDefinition<Ret, [Arg]>, arg: Arg, identity: BillingIdentity, emailConfirmed: boolean, retry = true): Promise<Ret> {
    try {
      return await temporal.workflow.executeUpdateWithStart(update, { args: [arg], startWorkflowOperation: loginStart(identity, emailConfirmed) });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError && retry && (await loginEnding(identity))) {
        // The previous login is closing: once it has, the same request starts a fresh one.
        return updateLogin(update, arg, identity, emailConfirmed, false);
      }
      if (err instanceof WorkflowUpdateFailedError) {
        const type = err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
        if (type === CONFIRMATION_LIMIT_REACHED) throw new HttpError(429, err.cause!.message, { retryAfterSeconds: 3600 }, 'Too many confirmation emails');
        if (type === 'NotAwaitingLogin') {
          throw new HttpError(409, 'Confirm your email address with the link from the confirmation email first.', {}, 'Email not confirmed');
        }
        // The mail server (or the database) was away for longer than the person can be kept waiting: the login goes on.
        if (update === requestConfirmationEmail && err.cause instanceof ActivityFailure) {
          throw new HttpError(503, 'The confirmation email could not be sent just now. Try again in a minute.', { retryAfterSeconds: 60 }, 'Email not sent');
        }
        throw new HttpError(409, 'This login can no longer continue. Start again from your server.', {}, 'Login ended');
      }
      if (err instanceof WorkflowNotFoundError) throw new HttpError(410, 'This login has ended. Start again from your server.', {}, 'Login ended');
      throw err;
    }
  }

  /** True once a login that had already ended (logged in or expired) has closed. */
  async function loginEnding(identity: BillingIdentity): Promise<boolean> {
    const handle = temporal.workflow.getHandle(billingLoginWorkflowId(identity));
    try {
      const step = await handle.query(billingLoginStep);
      if (step !== 'logged_in' && step !== 'expired') return false;
      await handle.result();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The billing user, once any confirmation link this login's flow is still
   * processing has been handled: a page reloaded after a restart cut off the
   * link click then shows the confirm-login step rather than the email form.
   */
  async function billingUserAfterPendingConfirmation(identity: BillingIdentity): Promise<BillingUserView | null> {
    const user = await findBillingUser(db, identity);
    if (user) return user;
    const handle = temporal.workflow.getHandle(billingLoginWorkflowId(identity));
    // No flow (the usual first visit) answers at once; a flow waiting for its worker is not waited for long.
    await waitAtMost(handle.executeUpdate(confirmationsSettled), PENDING_CONFIRMATION_WAIT_MS);
    return findBillingUser(db, identity);
  }

  async function requestConfirmation(ctx: Context, identity: BillingIdentity, email: string): Promise<void> {
    const server = await activeServer(identity.serverUuid);
    const limit = await confirmationLimitReached(db, ctx.ip, server.id);
    if (limit) throw new HttpError(429, limit, { retryAfterSeconds: 3600 }, 'Too many confirmation emails');
    const sent = await updateLogin(requestConfirmationEmail, { email, ip: ctx.ip }, identity, false);
    sendCheckEmailPage(ctx, sent.email, config.ttl.billingConfirmation);
  }

  async function showConfirmLogin(ctx: Context, identity: BillingIdentity, user: BillingUserView, action: string, extra: { error?: string; fullName?: string } = {}) {
    const organization = await organizationOf(identity);
    sendConfirmLoginPage(ctx, signer, {
      action,
      user,
      about: identityAbout(identity, organization),
      tosNeeded: tosConsentNeeded(user.tosVersion, config.termsOfServiceVersion),
      status: extra.error ? 400 : 200,
      ...extra,
    });
  }

  /** The confirm-login form → the login is recorded by the workflow → session cookie → the page asked for. */
  async function completeLogin(ctx: Context, identity: BillingIdentity, action: string): Promise<void> {
    await activeServer(identity.serverUuid);
    const user = await findBillingUser(db, identity);
    if (!user) throw new HttpError(409, 'Confirm your email address first.', {}, 'Email not confirmed');
    const body = parse(confirmLoginForm, ctx.request.body);
    const tosNeeded = tosConsentNeeded(user.tosVersion, config.termsOfServiceVersion);
    if (tosNeeded && !body.tos_consent) return showConfirmLogin(ctx, identity, user, action, { error: TOS_REQUIRED, fullName: body.full_name });
    const { billingUserId } = await updateLogin(
      confirmLogin,
      {
        fullName: body.full_name,
        enableMajorReleaseEmails: body.enable_major_release_emails === 'on',
        enableMaintenanceReleaseEmails: body.enable_maintenance_release_emails === 'on',
        acceptedTosVersion: tosNeeded ? config.termsOfServiceVersion : null,
      },
      identity,
      true,
    );
    const session = issueSessionToken(
      signer,
      { kind: identity.kind, server: identity.serverUuid, realm: identity.realmUuid, billingUser: billingUserId, uriScheme: identity.uriScheme },
      config.ttl.billingSession,
    );
    // No max-age: the signed expiry decides, so an expired session can still say where to log in again.
    ctx.cookies.set(SESSION_COOKIE, session, { httpOnly: true, sameSite: 'lax', path: '/', secure: ctx.secure, overwrite: true });
    const page = identity.nextPage ?? 'plans';
    ctx.redirect(identity.kind === 'realm' ? `/realm/${identity.realmUuid}/${page}/` : `/server/${identity.serverUuid}/${page}/`);
    ctx.status = 303;
  }

  /** A link from the confirmation mail: the workflow uses it once, then the confirm-login step follows. */
  async function doConfirm(ctx: Context, kind: 'realm' | 'server'): Promise<void> {
    const { row, state, keyHash } = await findConfirmation(db, String(ctx.params.key));
    const identity = row?.login as unknown as BillingIdentity | undefined;
    if (!row || !identity || identity.kind !== kind) throw new HttpError(404, 'This confirmation link is not valid.', {}, 'Invalid confirmation link');
    const used = () => new HttpError(410, 'This confirmation link has already been used. Request a new one from your server to log in again.', {}, 'Confirmation link already used');
    const expired = () => new HttpError(410, 'This confirmation link has expired. Request a new one to log in.', {}, 'Confirmation link expired');
    if (state === 'used') throw used();
    if (state === 'expired') throw expired();
    await activeServer(identity.serverUuid);
    const result = await updateLogin(confirmEmail, { keyHash }, identity, false);
    if (result.outcome === 'used') throw used();
    if (result.outcome !== 'confirmed') throw expired();
    // A fresh access token: the one the login began with may have expired while the mail waited.
    const token = issueAccessToken(signer, result.identity, config.ttl.billingAccessToken);
    ctx.status = 303;
    ctx.redirect(kind === 'realm' ? `/remote-billing-login/${token}` : `/serverlogin/${identity.serverUuid}/login/${token}`);
  }

  /* ---- Realm login, from the access URL a self-hosted server handed out ---- */

  router.get('/remote-billing-login/do_confirm/:key', (ctx) => doConfirm(ctx, 'realm'));

  router.get('/remote-billing-login/:token', async (ctx) => {
    const token = String(ctx.params.token);
    const identity = accessIdentity(token, 'realm');
    const organization = await organizationOf(identity);
    await activeServer(identity.serverUuid);
    const user = await billingUserAfterPendingConfirmation(identity);
    if (user) return showConfirmLogin(ctx, identity, user, `/remote-billing-login/${token}`);
    sendEmailFormPage(ctx, signer, {
      action: `/remote-billing-login/${token}/confirm/`,
      email: identity.email,
      about: identityAbout(identity, organization),
    });
  });

  router.post('/remote-billing-login/:token/confirm/', csrf, async (ctx) => {
    const token = String(ctx.params.token);
    const identity = accessIdentity(token, 'realm');
    const { email } = parse(emailForm, ctx.request.body);
    if (await findBillingUser(db, identity)) {
      ctx.status = 303;
      return ctx.redirect(`/remote-billing-login/${token}`);
    }
    await requestConfirmation(ctx, identity, email);
  });

  router.post('/remote-billing-login/:token', csrf, async (ctx) => {
    const token = String(ctx.params.token);
    await completeLogin(ctx, accessIdentity(token, 'realm'), `/remote-billing-login/${token}`);
  });

  /* ---- Legacy server-level login, with the server's UUID and key ---- */

  router.get('/serverlogin/', (ctx) => {
    const { next_page } = parse(z.object({ next_page: nextPageParam }), ctx.query);
    sendServerLoginPage(ctx, signer, { nextPage: next_page ?? null });
  });

  router.post('/serverlogin/', csrf, async (ctx) => {
    const body = parse(z.object({ zulip_org_id: z.string().trim(), zulip_org_key: z.string(), next_page: nextPageParam }), ctx.request.body);
    const nextPage = body.next_page ?? null;
    if (!z.uuid().safeParse(body.zulip_org_id).success) {
      return sendServerLoginPage(ctx, signer, { nextPage, uuid: body.zulip_org_id, error: 'This is not a server UUID.', status: 400 });
    }
    try {
      await authenticateServer(db, body.zulip_org_id, body.zulip_org_key);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      return sendServerLoginPage(ctx, signer, { nextPage, uuid: body.zulip_org_id, error: err.reason, status: err.status });
    }
    const server = await activeServer(body.zulip_org_id);
    sendEmailFormPage(ctx, signer, {
      action: `/serverlogin/${server.uuid}/confirm/`,
      email: '',
      about: `Plan management for the server ${server.hostname}.`,
      hidden: { server_login: issueServerLoginToken(signer, server.uuid, nextPage, config.ttl.billingAccessToken) },
    });
  });

  router.post('/serverlogin/:server/confirm/', csrf, async (ctx) => {
    const serverUuid = String(ctx.params.server);
    const body = parse(emailForm.extend({ server_login: z.string() }), ctx.request.body);
    let nextPage: NextPage | null;
    try {
      ({ nextPage } = verifyServerLoginToken(signer, body.server_login, serverUuid));
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      throw new HttpError(403, 'Log in with your server UUID and key again.', {}, err.problem === 'expired' ? 'Login form expired' : 'Invalid login form');
    }
    const identity: BillingIdentity = {
      kind: 'server',
      serverUuid,
      realmUuid: null,
      userUuid: null,
      email: body.email.toLowerCase(),
      fullName: '',
      uriScheme: '',
      nextPage,
    };
    // The key proves the server, not the person: the email is confirmed on every legacy login.
    await requestConfirmation(ctx, identity, identity.email);
  });

  router.get('/serverlogin/do_confirm/:key', (ctx) => doConfirm(ctx, 'server'));

  router.get('/serverlogin/:server/login/:token', async (ctx) => {
    const token = String(ctx.params.token);
    const identity = accessIdentity(token, 'server', String(ctx.params.server));
    const user = await billingUserAfterPendingConfirmation(identity);
    if (!user) throw new HttpError(409, 'Confirm your email address first.', {}, 'Email not confirmed');
    await showConfirmLogin(ctx, identity, user, `/serverlogin/${identity.serverUuid}/login/${token}`);
  });

  router.post('/serverlogin/:server/login/:token', csrf, async (ctx) => {
    const token = String(ctx.params.token);
    const identity = accessIdentity(token, 'server', String(ctx.params.server));
    await completeLogin(ctx, identity, `/serverlogin/${identity.serverUuid}/login/${token}`);
  });

  /* ---- Signed-in pages ---- */

  async function portalPage(ctx: Context, kind: 'realm' | 'server'): Promise<void> {
    const uuid = String(ctx.params.uuid);
    const page = ctx.params.page as NextPage;
    if (!NEXT_PAGES.includes(page)) throw new HttpError(404, 'There is no such page.', {}, 'Not found');
    const found = readSessionToken(signer, ctx.cookies.get(SESSION_COOKIE));
    const session = found?.session;
    const matches = session && session.kind === kind && (kind === 'realm' ? session.realm === uuid : session.server === uuid);
    if (!found || !matches) throw new HttpError(401, 'You are not logged in to plan management for this organization. Log in from your server.', {}, 'Please log in');
    if (found.state === 'expired') {
      // As Zulip does: back to the self-hosted server, which asks for a fresh access URL.
      if (kind === 'realm') {
        const realm = await findRealm(db, uuid);
        if (!realm) throw new HttpError(404, 'This organization is not registered.', {}, 'Unknown organization');
        ctx.status = 302;
        return ctx.redirect(`${session.uriScheme}${realm.host}/self-hosted-billing/?next_page=${page}`);
      }
      ctx.status = 302;
      return ctx.redirect(`/serverlogin/?next_page=${page}`);
    }
    await activeServer(session.server);
    const user = await findBillingUserById(db, kind, session.billingUser);
    if (!user) throw new HttpError(401, 'You are not logged in to plan management for this organization.', {}, 'Please log in');
    const organization = await organizationOf({ kind, realmUuid: session.realm, serverUuid: session.server });
    const base = kind === 'realm' ? `/realm/${uuid}` : `/server/${uuid}`;
    sendPortalPage(ctx, { page, user, organization, links: NEXT_PAGES.map((p) => ({ page: p, href: `${base}/${p}/` })) });
  }

  router.get('/realm/:uuid/:page/', (ctx) => portalPage(ctx, 'realm'));
  router.get('/server/:uuid/:page/', (ctx) => portalPage(ctx, 'server'));

  return router;
}
