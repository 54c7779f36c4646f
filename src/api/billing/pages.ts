// The billing portal's pages (Zulip's): the access URL a self-hosted server
// hands out, the legacy server-level login, the email confirmation, the
// confirm-login form and the signed-in pages.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { asPages, HttpError, parse } from '../http';
import { csrfField, render, requireCsrf } from '../pages';
import { BILLING_SESSION_COOKIE, getCookie, setCookie } from '../sessions';
import { emailAddress } from '../../shared/mail';
import { Refused } from '../../shared/failures';
import { TokenError } from '../../shared/tokens';
import * as records from '../../domain/billing';
import { BillingIdentity, NEXT_PAGES, NextPage } from '../../workflows/billing/messages';
import { billingFlow } from './flow';
import * as views from './views';

const emailForm = z.object({ email: emailAddress('Enter a valid email address.') });
const confirmLoginForm = z.object({
  full_name: z.string().trim().min(1, 'Enter your full name.').max(100),
  enable_major_release_emails: z.literal('on').optional(),
  enable_maintenance_release_emails: z.literal('on').optional(),
  tos_consent: z.literal('on').optional(),
});
const nextPageParam = z.enum(NEXT_PAGES, `next_page must be one of ${NEXT_PAGES.join(', ')}`).nullish();

export function billingPages(deps: ApiDeps): Router {
  const { config, db, signer } = deps;
  const flow = billingFlow(deps);
  const router = new Router();
  router.use(asPages);
  const requireForm = requireCsrf(signer);
  const csrf = (ctx: Context) => csrfField(ctx, signer);

  /** The server must still be registered and active for any login step. */
  async function activeServer(uuid: string) {
    const server = await records.findServer(db, uuid);
    if (!server) throw new HttpError(403, `Zulip server ${uuid} is not registered.`, {}, 'Unknown server');
    if (server.deactivated) throw new HttpError(403, 'Your server registration has been deactivated.', {}, 'Server deactivated');
    return server;
  }

  async function organizationOf(identity: Pick<BillingIdentity, 'kind' | 'realmUuid' | 'serverUuid'>) {
    if (identity.kind === 'realm') {
      const realm = await records.findRealm(db, identity.realmUuid!);
      if (!realm) throw new HttpError(404, 'This organization is not registered.', {}, 'Unknown organization');
      return { label: 'Organization', name: realm.name, host: realm.host, uuid: realm.uuid, plan: realm.plan };
    }
    const server = await activeServer(identity.serverUuid);
    return { label: 'Server', name: server.hostname, host: server.hostname, uuid: server.uuid, plan: server.plan };
  }

  /** The billing user, once any confirmation this login's flow is still processing has been handled. */
  async function billingUserAfterPendingConfirmation(identity: BillingIdentity) {
    const user = await records.findBillingUser(db, identity);
    if (user) return user;
    await flow.confirmationsSettled(identity);
    return records.findBillingUser(db, identity);
  }

  async function requestConfirmation(ctx: Context, identity: BillingIdentity, email: string): Promise<void> {
    const server = await activeServer(identity.serverUuid);
    // A first check here spares the workflow; the binding one is made where the mail is recorded.
    const limit = await records.confirmationLimitReached(db, ctx.ip, server.id);
    if (limit) throw new HttpError(429, limit, { retryAfterSeconds: 3600 }, 'Too many confirmation emails');
    const sent = await flow.requestConfirmation(identity, email, ctx.ip);
    render(ctx, views.checkEmailPage(sent.email, config.ttl.billingConfirmation, !records.confirmationSingleUse(identity)));
  }

  async function showConfirmLogin(ctx: Context, identity: BillingIdentity, user: records.BillingUserView, action: string, extra: { error?: string; fullName?: string } = {}) {
    const organization = await organizationOf(identity);
    const tosNeeded = records.tosConsentNeeded(user.tosVersion, config.termsOfServiceVersion);
    render(ctx, views.confirmLoginPage(csrf(ctx), { action, user, about: views.identityAbout(identity, organization), tosNeeded, ...extra }));
  }

  /** The confirm-login form → the login is recorded by the workflow → session cookie → the page asked for. */
  async function completeLogin(ctx: Context, identity: BillingIdentity, action: string, accessToken: string): Promise<void> {
    await activeServer(identity.serverUuid);
    const user = await records.findBillingUser(db, identity);
    if (!user) throw new HttpError(409, 'Confirm your email address first.', {}, 'Email not confirmed');
    const body = parse(confirmLoginForm, ctx.request.body);
    const tosNeeded = records.tosConsentNeeded(user.tosVersion, config.termsOfServiceVersion);
    if (tosNeeded && !body.tos_consent) return showConfirmLogin(ctx, identity, user, action, { error: views.TOS_REQUIRED, fullName: body.full_name });
    const { billingUserId } = await flow.confirmLogin(
      identity,
      {
        fullName: body.full_name,
        enableMajorReleaseEmails: body.enable_major_release_emails === 'on',
        enableMaintenanceReleaseEmails: body.enable_maintenance_release_emails === 'on',
        acceptedTosVersion: tosNeeded ? config.termsOfServiceVersion : null,
      },
      accessToken,
    );
    const session = records.issueSessionToken(
      signer,
      { kind: identity.kind, server: identity.serverUuid, realm: identity.realmUuid, billingUser: billingUserId, uriScheme: identity.uriScheme },
      config.ttl.billingSession,
    );
    // No max-age: the signed expiry decides, so an expired session can still say where to log in again.
    setCookie(ctx, BILLING_SESSION_COOKIE, session, { sameSite: 'lax' });
    const page = identity.nextPage ?? (await records.landingPage(db, identity));
    ctx.redirect(identity.kind === 'realm' ? `/realm/${identity.realmUuid}/${page}/` : `/server/${identity.serverUuid}/${page}/`);
    ctx.status = 303;
  }

  /** A link from the confirmation mail → the login it confirms (its billing user exists from then on), while its server is active. */
  async function confirmedByLink(ctx: Context, kind: 'realm' | 'server') {
    const link = await records.readConfirmationLink(db, String(ctx.params.key), kind);
    await activeServer(link.identity.serverUuid);
    return flow.confirmByLink(link);
  }

  /** The access link a page's form posts to, signed again so it does not age while the page is open. */
  const renewed = (token: string) => records.renewAccessLink(signer, token, 'realm', config.ttl.billingAccessToken);

  /* ---- Realm login, from the access URL a self-hosted server handed out ---- */

  // As Zulip does: a fresh access token, since the one the login began with may have expired while the mail waited.
  router.get('/remote-billing-login/do_confirm/:key', async (ctx) => {
    const identity = await confirmedByLink(ctx, 'realm');
    ctx.status = 303;
    ctx.redirect(`/remote-billing-login/${records.issueAccessToken(signer, identity, config.ttl.billingAccessToken)}`);
  });

  router.get('/remote-billing-login/:token', async (ctx) => {
    const token = String(ctx.params.token);
    const identity = records.readAccessLink(signer, token, 'realm');
    const organization = await organizationOf(identity);
    await activeServer(identity.serverUuid);
    const user = await billingUserAfterPendingConfirmation(identity);
    const fresh = renewed(token);
    if (user) return showConfirmLogin(ctx, identity, user, `/remote-billing-login/${fresh}`);
    render(ctx, views.emailFormPage(csrf(ctx), { action: `/remote-billing-login/${fresh}/confirm/`, email: identity.email, about: views.identityAbout(identity, organization) }));
  });

  router.post('/remote-billing-login/:token/confirm/', requireForm, async (ctx) => {
    const token = String(ctx.params.token);
    const identity = records.readAccessLink(signer, token, 'realm');
    const { email } = parse(emailForm, ctx.request.body);
    if (await records.findBillingUser(db, identity)) {
      ctx.status = 303;
      return ctx.redirect(`/remote-billing-login/${token}`);
    }
    await requestConfirmation(ctx, identity, email);
  });

  router.post('/remote-billing-login/:token', requireForm, async (ctx) => {
    const token = String(ctx.params.token);
    const identity = records.readAccessLink(signer, token, 'realm');
    await completeLogin(ctx, identity, `/remote-billing-login/${renewed(token)}`, token);
  });

  /* ---- Legacy server-level login, with the server's UUID and key ---- */

  router.get('/serverlogin/', (ctx) => {
    const { next_page } = parse(z.object({ next_page: nextPageParam }), ctx.query);
    render(ctx, views.serverLoginPage(csrf(ctx), { nextPage: next_page ?? null }));
  });

  router.post('/serverlogin/', requireForm, async (ctx) => {
    const body = parse(z.object({ zulip_org_id: z.string().trim(), zulip_org_key: z.string(), next_page: nextPageParam }), ctx.request.body);
    const nextPage = body.next_page ?? null;
    if (!z.uuid().safeParse(body.zulip_org_id).success) {
      return render(ctx, views.serverLoginPage(csrf(ctx), { nextPage, uuid: body.zulip_org_id, error: 'This is not a server UUID.', status: 400 }));
    }
    try {
      await records.authenticateServer(db, body.zulip_org_id, body.zulip_org_key);
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      return render(ctx, views.serverLoginPage(csrf(ctx), { nextPage, uuid: body.zulip_org_id, ...views.serverLoginRefusal(err.failure, body.zulip_org_id) }));
    }
    const server = await activeServer(body.zulip_org_id);
    render(
      ctx,
      views.emailFormPage(csrf(ctx), {
        action: `/serverlogin/${server.uuid}/confirm/`,
        email: '',
        about: `Plan management for the server ${server.hostname}.`,
        hidden: { server_login: records.issueServerLoginToken(signer, server.uuid, nextPage, config.ttl.billingAccessToken) },
      }),
    );
  });

  router.post('/serverlogin/:server/confirm/', requireForm, async (ctx) => {
    const serverUuid = String(ctx.params.server);
    const body = parse(emailForm.extend({ server_login: z.string() }), ctx.request.body);
    let nextPage: NextPage | null;
    try {
      ({ nextPage } = records.verifyServerLoginToken(signer, body.server_login, serverUuid));
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      throw new HttpError(403, 'Log in with your server UUID and key again.', {}, err.problem === 'expired' ? 'Login form expired' : 'Invalid login form');
    }
    const identity: BillingIdentity = { kind: 'server', serverUuid, realmUuid: null, userUuid: null, email: body.email.toLowerCase(), fullName: '', uriScheme: '', nextPage };
    // The key proves the server, not the person: the email is confirmed on every legacy login.
    await requestConfirmation(ctx, identity, identity.email);
  });

  // The legacy login's emailed link is its confirm-login page, as Zulip's is: it works again until it expires.
  router.get('/serverlogin/do_confirm/:key', async (ctx) => {
    const identity = await confirmedByLink(ctx, 'server');
    const user = await records.findBillingUser(db, identity);
    if (!user) throw new HttpError(409, 'Confirm your email address first.', {}, 'Email not confirmed');
    await showConfirmLogin(ctx, identity, user, `/serverlogin/do_confirm/${ctx.params.key}`);
  });

  router.post('/serverlogin/do_confirm/:key', requireForm, async (ctx) => {
    // Confirmed again first: the login this link began may have ended (logged in, or timed out) since the page was shown.
    const identity = await confirmedByLink(ctx, 'server');
    await completeLogin(ctx, identity, `/serverlogin/do_confirm/${ctx.params.key}`, String(ctx.params.key));
  });

  /* ---- Signed-in pages ---- */

  async function portal(ctx: Context, kind: 'realm' | 'server'): Promise<void> {
    const uuid = String(ctx.params.uuid);
    const page = ctx.params.page as NextPage;
    if (!NEXT_PAGES.includes(page)) throw new HttpError(404, 'There is no such page.', {}, 'Not found');
    const found = records.readSessionToken(signer, getCookie(ctx, BILLING_SESSION_COOKIE));
    const session = found?.session;
    const matches = session && session.kind === kind && (kind === 'realm' ? session.realm === uuid : session.server === uuid);
    if (!found || !matches) throw new HttpError(401, 'You are not logged in to plan management for this organization. Log in from your server.', {}, 'Please log in');
    if (found.state === 'expired') {
      // As Zulip does: back to the self-hosted server, which asks for a fresh access URL.
      if (kind === 'realm') {
        const realm = await records.findRealm(db, uuid);
        if (!realm) throw new HttpError(404, 'This organization is not registered.', {}, 'Unknown organization');
        ctx.status = 302;
        return ctx.redirect(`${session.uriScheme}${realm.host}/self-hosted-billing/?next_page=${page}`);
      }
      ctx.status = 302;
      return ctx.redirect(`/serverlogin/?next_page=${page}`);
    }
    await activeServer(session.server);
    const user = await records.findBillingUserById(db, kind, session.billingUser);
    if (!user) throw new HttpError(401, 'You are not logged in to plan management for this organization.', {}, 'Please log in');
    const organization = await organizationOf({ kind, realmUuid: session.realm, serverUuid: session.server });
    const base = kind === 'realm' ? `/realm/${uuid}` : `/server/${uuid}`;
    render(ctx, views.portalPage({ page, user, organization, links: NEXT_PAGES.map((p) => ({ page: p, href: `${base}/${p}/` })) }));
  }

  router.get('/realm/:uuid/:page/', (ctx) => portal(ctx, 'realm'));
  router.get('/server/:uuid/:page/', (ctx) => portal(ctx, 'server'));

  return router;
}
