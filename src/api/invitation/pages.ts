// The team invitation's pages (/join/...): the emailed link and its two
// branches (new account, existing account), the registration link, the
// identity-verification link, the team page with its one-click Join.
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { asPages, HttpError, parse, pathId } from '../http';
import { csrfField, render, requireCsrf } from '../pages';
import { passwordSignIn, sessionAccountId, startSession, tooManySignIns } from '../sessions';
import { issueAccessToken } from '../../shared/auth';
import { DeadLink } from '../../shared/links';
import * as records from '../../domain/invitation';
import { invitationFlow, personName } from './flow';
import * as views from './views';

/** Our own pages, named exactly: /join and segments of letters, digits, - and _; nothing a browser could read as another site. */
const JOIN_PAGE = /^\/join(?:\/[A-Za-z0-9_-]+)+$/;

/** Only our own pages are followed after sign-in: no open redirect. Anything else leads to the teams page. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && value.length <= 200 && JOIN_PAGE.test(value) ? value : '/join/teams';
}

const signInForm = z.object({ username: z.string().trim().min(1, 'Enter your username or email.').max(254), password: z.string().min(1, 'Enter your password.').max(1024) });
const registerForm = z.object({ firstName: personName, lastName: personName });
const accountForm = registerForm.extend({
  username: z.string().trim().max(64),
  password: z.string().max(1024),
  acceptTerms: z.literal('on', { error: 'Accept the terms of use to create an account.' }),
});

export function invitationPages(deps: ApiDeps): Router {
  const router = new Router({ prefix: '/join' });
  const { db, signer, config } = deps;
  const flow = invitationFlow(deps);
  router.use(asPages);
  const csrf = (ctx: Context) => csrfField(ctx, signer);
  const requireForm = requireCsrf(signer);
  const endpoints = records.defaultEndpoints(config);

  router.get('/invitation/:token', async (ctx) => {
    render(ctx, views.invitationPage(ctx.params.token, await records.readInvitationLink(db, signer, ctx.params.token)));
  });

  router.get('/invitation/:token/register', async (ctx) => {
    const opened = await records.readInvitationLink(db, signer, ctx.params.token);
    render(ctx, views.registerPage(csrf(ctx), ctx.params.token, opened.row.inviteeEmail ?? ''));
  });

  router.post('/invitation/:token/register', requireForm, async (ctx) => {
    const opened = await records.readInvitationLink(db, signer, ctx.params.token);
    const email = opened.row.inviteeEmail;
    if (!email) throw new HttpError(400, 'This invitation is for an existing account. Sign in instead.');
    try {
      const form = parse(registerForm, ctx.request.body);
      await flow.requestRegistrationLink({ email, ...form, encodedMembershipInvtnSignedToken: ctx.params.token }, endpoints.accountCreation);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status >= 500) throw err;
      if (err.extra.retryAfterSeconds) ctx.set('Retry-After', String(err.extra.retryAfterSeconds));
      return render(ctx, views.registerPage(csrf(ctx), ctx.params.token, email, err.reason, err.status));
    }
    render(ctx, views.checkEmailPage(email, config.ttl.emailValidation));
  });

  router.get('/invitation/:token/sign-in', async (ctx) => {
    await records.readInvitationLink(db, signer, ctx.params.token);
    render(ctx, views.signInPage(csrf(ctx), `/join/invitation/${ctx.params.token}/sign-in`));
  });

  // "I already have an account": sign in, verify the invitee, bind, then the team page.
  router.post('/invitation/:token/sign-in', requireForm, async (ctx) => {
    const { row } = await records.readInvitationLink(db, signer, ctx.params.token);
    const accountId = await signIn(ctx, `/join/invitation/${ctx.params.token}/sign-in`);
    if (accountId === undefined) return;
    if (row.inviteeId !== null) {
      if (row.inviteeId !== accountId) throw new HttpError(403, 'This invitation was accepted by another account.', {}, 'Not your invitation');
      return ctx.redirect(`/join/team/${row.teamId}`);
    }
    const answer = await flow.requestVerification(row.id, accountId, endpoints.inviteeVerification, 410);
    if (!answer.verified) return render(ctx, views.verificationMailedPage(row.inviteeEmail ?? '', answer.mailed, config.inviteeVerificationPhase));
    await flow.bind(row.id, accountId, 'existing_account');
    ctx.redirect(`/join/team/${row.teamId}`);
  });

  /** Signs in from a posted form; renders the form again with the problem and returns undefined on failure. */
  async function signIn(ctx: Context, action: string): Promise<number | undefined> {
    const form = signInForm.safeParse(ctx.request.body ?? {});
    if (!form.success) {
      render(ctx, views.signInPage(csrf(ctx), action, form.error.issues[0].message, 400));
      return undefined;
    }
    const result = await passwordSignIn(ctx, deps, form.data.username, form.data.password);
    if (result.outcome === 'throttled') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      render(ctx, views.signInPage(csrf(ctx), action, tooManySignIns(result.retryAfterSeconds).reason, 429));
      return undefined;
    }
    if (result.outcome !== 'signed_in') {
      render(ctx, views.signInPage(csrf(ctx), action, 'Wrong username or password.', 401));
      return undefined;
    }
    startSession(ctx, result.accessToken);
    return result.accountId;
  }

  /* ---- the registration link from the "Welcome" mail ---- */

  router.get('/account/:token', async (ctx) => {
    const { validated } = records.readAccountCreationLink(signer, ctx.params.token);
    if (await records.findAccountByEmail(db, validated.email)) {
      throw new DeadLink('used', 'This registration link was already used: an account exists for this address.', { text: 'Sign in instead:', href: '/join/sign-in', label: 'sign in' });
    }
    // Prefilled with the names typed on "Send registration info".
    const names = await flow.registrationNames(validated.email, validated.expiresOn);
    render(ctx, views.newAccountPage(csrf(ctx), ctx.params.token, validated.email, config.termsOfServiceVersion, { values: names }));
  });

  router.post('/account/:token', requireForm, async (ctx) => {
    const { validated, envelope } = records.readAccountCreationLink(signer, ctx.params.token);
    let created: Awaited<ReturnType<typeof flow.createAccount>>;
    try {
      const form = parse(accountForm, ctx.request.body);
      created = await flow.createAccount({
        ...form,
        emailValidationSignedToken: envelope.emailValidationSignedToken,
        ...(typeof envelope.encodedMembershipInvtnSignedToken === 'string' ? { encodedMembershipInvtnSignedToken: envelope.encodedMembershipInvtnSignedToken } : {}),
      });
    } catch (err) {
      if (!(err instanceof HttpError) || err.status >= 500 || err.status === 410) throw err;
      const values = ctx.request.body as Record<string, string>;
      return render(ctx, views.newAccountPage(csrf(ctx), ctx.params.token, validated.email, config.termsOfServiceVersion, { reason: err.reason, values, status: err.status }));
    }
    // A new account is in its first session generation.
    startSession(ctx, issueAccessToken(signer, { id: created.accountId, sessionGeneration: 0 }));
    ctx.redirect(created.invitation ? `/join/team/${created.invitation.teamId}` : '/join/teams');
  });

  /* ---- the identity-verification link (Synapse's phase 2): the owner of the invited address binds it to the account that asked ---- */

  router.get('/verify/:token', async (ctx) => {
    const { token, row } = await records.readInviteeVerificationLink(db, signer, ctx.params.token);
    const [account, team] = await Promise.all([records.findAccount(db, Number(token.inviteeId)), records.findTeam(db, row.teamId)]);
    const signedIn = (await sessionAccountId(ctx, deps)) === Number(token.inviteeId);
    render(ctx, views.confirmVerificationPage(csrf(ctx), ctx.params.token, team?.name ?? '', account?.username ?? '', signedIn));
  });

  router.post('/verify/:token', requireForm, async (ctx) => {
    const { token } = await records.readInviteeVerificationLink(db, signer, ctx.params.token);
    let accountId = await sessionAccountId(ctx, deps);
    if (accountId !== Number(token.inviteeId)) {
      accountId = await signIn(ctx, `/join/verify/${ctx.params.token}`);
      if (accountId === undefined) return;
    }
    if (accountId !== Number(token.inviteeId)) throw new HttpError(403, 'This confirmation is for another account. Sign in with the account named in the mail.', {}, 'Not your invitation');
    const bound = await flow.bind(Number(token.membershipInvitationId), accountId, 'existing_account');
    ctx.redirect(`/join/team/${bound.teamId}`);
  });

  /* ---- the unsubscribe link of invitation notices (default notificationUnsubscribeEndpoint) ---- */

  router.get('/unsubscribe/:token', async (ctx) => {
    const { account, optedOut } = await records.readUnsubscribeLink(db, signer, ctx.params.token);
    render(ctx, optedOut ? views.unsubscribedPage(account.email) : views.unsubscribePage(csrf(ctx), ctx.params.token, account.email));
  });

  // The page's button, or a mail client's one-click POST (RFC 8058), which carries no cookie: the link's token is the authority.
  const oneClickOrForm: Middleware = (ctx, next) => ((ctx.request.body as Record<string, unknown> | undefined)?.['List-Unsubscribe'] === 'One-Click' ? next() : requireForm(ctx, next));
  router.post('/unsubscribe/:token', oneClickOrForm, async (ctx) => {
    const { account } = await records.readUnsubscribeLink(db, signer, ctx.params.token);
    await records.recordNotificationOptOut(db, account.id);
    render(ctx, views.unsubscribedPage(account.email));
  });

  /* ---- teams ---- */

  router.get('/team/:id', async (ctx) => {
    const teamId = pathId(ctx.params.id, 'team');
    const accountId = await sessionAccountId(ctx, deps);
    if (accountId === undefined) return ctx.redirect(`/join/sign-in?next=${encodeURIComponent(`/join/team/${teamId}`)}`);
    const page = await records.readTeamFor(db, teamId, accountId);
    if (!page) throw new HttpError(404, 'There is no such team.');
    if (!page.isMember && !page.invitation) throw new HttpError(403, 'You are not a member of this team and have no open invitation to it.', {}, 'Not your team');
    render(ctx, views.teamPage(csrf(ctx), { ...page, joined: ctx.query.joined === '1' }));
  });

  router.post('/team/:id/join', requireForm, async (ctx) => {
    const teamId = pathId(ctx.params.id, 'team');
    const accountId = await sessionAccountId(ctx, deps);
    if (accountId === undefined) return ctx.redirect(`/join/sign-in?next=${encodeURIComponent(`/join/team/${teamId}`)}`);
    await flow.join(teamId, accountId);
    ctx.redirect(`/join/team/${teamId}?joined=1`);
  });

  router.get('/teams', async (ctx) => {
    const accountId = await sessionAccountId(ctx, deps);
    if (accountId === undefined) return ctx.redirect('/join/sign-in');
    const { teams, invitedTeams } = await records.readTeamsOf(db, accountId);
    render(ctx, views.teamsPage(csrf(ctx), teams, invitedTeams));
  });

  router.get('/sign-in', async (ctx) => {
    render(ctx, views.signInPage(csrf(ctx), `/join/sign-in?next=${encodeURIComponent(safeNext(ctx.query.next))}`));
  });

  router.post('/sign-in', requireForm, async (ctx) => {
    const next = safeNext(ctx.query.next);
    if ((await signIn(ctx, `/join/sign-in?next=${encodeURIComponent(next)}`)) === undefined) return;
    ctx.redirect(next);
  });

  return router;
}
