import type { Context } from 'koa';
import type { TokenSigner } from '../../shared/tokens';
import type { TrialHome } from '../../services/trial';
import { form, html, input, sendPage, SafeHtml, signOutForm } from '../pages';

function day(iso: string | null | undefined): string {
  return iso ? new Date(iso).toUTCString().slice(0, 16) : '';
}

function problem(error: string | undefined): SafeHtml {
  return error ? html`<p class="error" role="alert">${error}</p>` : html``;
}

/** The registration form the verification link opens: username locked, password chosen here. */
export function registrationPage(
  ctx: Context,
  signer: TokenSigner,
  view: { token: string; username: string; firstName: string; lastName: string; error?: string },
  status = 200,
): void {
  sendPage(ctx, {
    title: 'Start your free trial',
    status,
    body: html`${problem(view.error)}
<p>Choose a password to create your account. Your trial starts right away.</p>
${form(
  ctx,
  signer,
  '/trial/register',
  html`<input type="hidden" name="token" value="${view.token}">
${input('username', 'Email (your username)', { type: 'email', value: view.username, readonly: true, autocomplete: 'username' })}
${input('password', 'Password', { type: 'password', required: true, autocomplete: 'new-password' })}
${input('confirmation', 'Confirm password', { type: 'password', required: true, autocomplete: 'new-password' })}
${input('firstname', 'First name', { value: view.firstName, autocomplete: 'given-name' })}
${input('lastname', 'Last name', { value: view.lastName, autocomplete: 'family-name' })}
<p class="muted">At least 8 characters, with a letter, a digit and a symbol.</p>`,
  'Create my account',
)}`,
  });
}

export function trialReadyPage(ctx: Context, view: { username: string; appName: string; trialEndsAt: string }): void {
  sendPage(ctx, {
    title: 'Your trial is ready',
    status: 201,
    body: html`<p>Your account <strong>${view.username}</strong> is created.</p>
<dl><dt>Your app</dt><dd id="app-name">${view.appName}</dd><dt>Trial ends</dt><dd id="trial-ends">${day(view.trialEndsAt)}</dd></dl>
<p><a class="button" href="/login">Log in</a></p>`,
  });
}

export type LinkProblem = 'unknown' | 'expired' | 'used';

/** Each dead link says why, and what to do instead. */
export function linkProblemPage(ctx: Context, kind: LinkProblem, reason: string, about: 'trial' | 'password-reset' = 'trial'): void {
  const pages = {
    unknown: { status: 404, title: 'This link is not valid', next: html`<p>Check that you copied the whole link from the mail.</p>` },
    expired: { status: 410, title: 'This link has expired', next: html`<p>Ask for a new free trial link with the same address: the new mail replaces this one.</p>` },
    used: { status: 410, title: 'This link was already used', next: html`<p>Your account exists: <a href="/login">log in</a>.</p>` },
  } as const;
  const page = pages[kind];
  const next = about === 'password-reset' && kind !== 'used' ? html`<p><a href="/trial/password-reset">Ask for a new password-reset link.</a></p>` : page.next;
  sendPage(ctx, { title: page.title, status: page.status, body: html`<p class="error">${reason}</p>${next}` });
}

export function loginPage(ctx: Context, signer: TokenSigner, view: { username?: string; error?: string } = {}, status = 200): void {
  sendPage(ctx, {
    title: 'Log in',
    status,
    body: html`${problem(view.error)}${form(
      ctx,
      signer,
      '/login',
      html`${input('username', 'Email or username', { value: view.username ?? '', required: true, autocomplete: 'username' })}
${input('password', 'Password', { type: 'password', required: true, autocomplete: 'current-password' })}`,
      'Log in',
    )}`,
  });
}

/** The login refusal of an expired trial (the seed's TrialExpirationAuthenticator). */
export function trialExpiredPage(ctx: Context, view: { trialEndsAt: string | null }): void {
  sendPage(ctx, {
    title: 'Your free trial has ended',
    status: 403,
    body: html`<p class="error">Your free trial ended${view.trialEndsAt ? html` on ${day(view.trialEndsAt)}` : ''}, so you can no longer log in.</p>
<p>Your app is kept: contact us to extend the trial or to subscribe.</p>`,
  });
}

export function trialHomePage(ctx: Context, signer: TokenSigner, home: TrialHome): void {
  const infos = home.infos;
  sendPage(ctx, {
    title: home.app ? home.app.name : 'Your account',
    body: html`<p>Signed in as <strong>${home.username}</strong>.</p>
${home.app
  ? html`<dl><dt>App</dt><dd id="app-name">${home.app.name}</dd><dt>App id</dt><dd>${home.app.id}</dd>
${infos?.trialEndsAt && infos.status !== 'converted' ? html`<dt>Trial ends</dt><dd>${day(infos.trialEndsAt)} (${infos.daysLeft} day${infos.daysLeft === 1 ? '' : 's'} left)</dd>` : ''}
${infos?.status === 'converted' ? html`<dt>Plan</dt><dd>Subscribed</dd>` : ''}</dl>`
  : html`<p>No app is attached to this account.</p>`}
${signOutForm(ctx, signer)}`,
  });
}

export function passwordResetRequestPage(ctx: Context, signer: TokenSigner): void {
  sendPage(ctx, {
    title: 'Reset your password',
    body: html`<p>Enter the address of your account: we mail you a link to choose a new password.</p>${form(
      ctx,
      signer,
      '/trial/password-reset',
      input('username', 'Email', { type: 'email', required: true, autocomplete: 'username' }),
      'Send the link',
    )}`,
  });
}

export function passwordResetSentPage(ctx: Context): void {
  sendPage(ctx, {
    title: 'Check your inbox',
    status: 202,
    body: html`<p>If this address has an account, a link to choose a new password is on its way. It works once, for one hour.</p>`,
  });
}

export function newPasswordPage(ctx: Context, signer: TokenSigner, view: { token: string; username: string; error?: string }, status = 200): void {
  sendPage(ctx, {
    title: 'Choose a new password',
    status,
    body: html`${problem(view.error)}${form(
      ctx,
      signer,
      '/trial/password-reset/new',
      html`<input type="hidden" name="token" value="${view.token}">
${input('username', 'Email (your username)', { type: 'email', value: view.username, readonly: true, autocomplete: 'username' })}
${input('password', 'New password', { type: 'password', required: true, autocomplete: 'new-password' })}
${input('confirmation', 'Confirm new password', { type: 'password', required: true, autocomplete: 'new-password' })}
<p class="muted">At least 8 characters, with a letter, a digit and a symbol.</p>`,
      'Change my password',
    )}`,
  });
}

export function passwordChangedPage(ctx: Context): void {
  sendPage(ctx, { title: 'Password changed', body: html`<p>Your new password is set.</p><p><a class="button" href="/login">Log in</a></p>` });
}
