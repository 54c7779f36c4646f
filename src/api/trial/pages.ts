// The free trial's pages: the verification link's registration form, log in
// and out, the trial's home, and the password reset.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { asPages, FlowRefusal, parse } from '../http';
import { csrfField, render, requireCsrf } from '../pages';
import { clearSession, passwordSignIn, sessionAccountId, startSession, tooManySignIns } from '../sessions';
import { endSessions, passwordProblem } from '../../shared/auth';
import { DeadLink } from '../../shared/links';
import { readTrialHome, readVerificationToken } from '../../domain/trial';
import { TrialFailure } from '../../workflows/trial/messages';
import { creationBody, loginBody, tokenField, trialFlow, usernameBody } from './flow';
import * as views from './views';

const registrationForm = creationBody.extend({ confirmation: z.string().max(1024).optional() });
const newPasswordForm = z.object({ token: tokenField, password: z.string({ error: 'is required.' }).max(1024), confirmation: z.string().max(1024).optional() });

export function trialPages(deps: ApiDeps): Router {
  const { db, signer } = deps;
  const flow = trialFlow(deps);
  const router = new Router();
  router.use(asPages);
  const csrf = (ctx: Context) => csrfField(ctx, signer);

  router.get('/trial/register', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    if (!token) throw new DeadLink('unknown', 'This link has no token.', { text: 'Check that you copied the whole link from the mail.' });
    const verified = await flow.verifyToken(token);
    render(ctx, views.registrationPage(csrf(ctx), { token, username: verified.username, firstName: verified.firstName, lastName: verified.lastName }));
  });

  router.post('/trial/register', requireCsrf(signer), async (ctx) => {
    const body = parse(registrationForm, ctx.request.body);
    const { email } = readVerificationToken(signer, body.token);
    const again = (error: string) => render(ctx, views.registrationPage(csrf(ctx), { token: body.token, username: email, firstName: body.firstname ?? '', lastName: body.lastname ?? '', error }, 400));
    if (body.password !== body.confirmation) return again('The two passwords differ.');
    const weak = passwordProblem(body.password);
    if (weak) return again(weak);
    try {
      // Created means signed in: the next click opens the app, not a login form. Signed in with the
      // password just posted, so a repeated post (answered with the first one's account) proves it too.
      const { created, accessToken } = await flow.createAccountAndSignIn(body.token, body.password, body.firstname, body.lastname, ctx.ip);
      if (accessToken) startSession(ctx, accessToken);
      render(ctx, views.trialReadyPage({ ...created, signedIn: accessToken !== undefined }));
    } catch (err) {
      if (err instanceof FlowRefusal && err.is(TrialFailure.accountExists)) return again(err.reason);
      throw err;
    }
  });

  router.get('/login', (ctx) => render(ctx, views.loginPage(csrf(ctx))));

  router.post('/login', requireCsrf(signer), async (ctx) => {
    const { username, password } = parse(loginBody, ctx.request.body);
    const result = await passwordSignIn(ctx, deps, username, password);
    if (result.outcome === 'throttled') {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      return render(ctx, views.loginPage(csrf(ctx), { username, error: tooManySignIns(result.retryAfterSeconds).reason }, 429));
    }
    if (result.outcome !== 'signed_in') return render(ctx, views.loginPage(csrf(ctx), { username, error: 'Wrong username or password.' }, 401));
    const home = await readTrialHome(db, result.accountId);
    if (home?.infos?.expired) return render(ctx, views.trialExpiredPage(home.infos));
    startSession(ctx, result.accessToken);
    ctx.status = 303;
    ctx.redirect('/trial/app');
  });

  // Signing out ends every session of the account, not only this browser's.
  router.post('/logout', requireCsrf(signer), async (ctx) => {
    const accountId = await sessionAccountId(ctx, deps);
    if (accountId !== undefined) await endSessions(db, accountId);
    clearSession(ctx);
    ctx.status = 303;
    ctx.redirect('/login');
  });

  router.get('/trial/app', async (ctx) => {
    const accountId = await sessionAccountId(ctx, deps);
    const home = accountId === undefined ? undefined : await readTrialHome(db, accountId);
    if (!home) {
      ctx.status = 303;
      return ctx.redirect('/login');
    }
    if (home.infos?.expired) return render(ctx, views.trialExpiredPage(home.infos));
    render(ctx, views.trialHomePage(csrf(ctx), home));
  });

  /* ---- password reset (linked from the "welcome back" mail) ---- */

  router.get('/trial/password-reset', (ctx) => render(ctx, views.passwordResetRequestPage(csrf(ctx))));

  router.post('/trial/password-reset', requireCsrf(signer), async (ctx) => {
    const { username: email } = parse(usernameBody, ctx.request.body);
    try {
      await flow.requestPasswordReset(email);
    } catch (err) {
      if (!(err instanceof FlowRefusal && err.is(TrialFailure.passwordResetThrottled))) throw err;
      ctx.set('Retry-After', String(TrialFailure.passwordResetThrottled.retryAfterSeconds));
      return render(ctx, views.passwordResetRequestPage(csrf(ctx), err.reason, 429));
    }
    render(ctx, views.passwordResetSentPage());
  });

  router.get('/trial/password-reset/new', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const link = await flow.readPasswordResetLink(token);
    render(ctx, views.newPasswordPage(csrf(ctx), { token, username: link.username }));
  });

  router.post('/trial/password-reset/new', requireCsrf(signer), async (ctx) => {
    const body = parse(newPasswordForm, ctx.request.body);
    const link = await flow.readPasswordResetLink(body.token);
    const weak = body.password !== body.confirmation ? 'The two passwords differ.' : passwordProblem(body.password);
    if (weak) return render(ctx, views.newPasswordPage(csrf(ctx), { token: body.token, username: link.username, error: weak }, 400));
    try {
      await flow.chooseNewPassword(body.token, body.password);
    } catch (err) {
      if (err instanceof FlowRefusal && err.is(TrialFailure.resetLinkUsed)) throw new DeadLink('used', err.reason, { text: 'Your new password is set:', href: '/login', label: 'log in' });
      throw err;
    }
    render(ctx, views.passwordChangedPage());
  });

  return router;
}
