// The free trial's pages, each a view that returns { title, body } for the one layout.
import type { TrialHome, TrialInfos } from '../../domain/trial';
import { formPage, html, input, Page, SafeHtml, signOutForm } from '../pages';

function day(iso: string | null | undefined): string {
  return iso ? new Date(iso).toUTCString().slice(0, 16) : '';
}

const PASSWORD_RULE = 'At least 8 characters, with a letter, a digit and a symbol.';

/** The password a person chooses, typed twice, under the shared rule. */
function newPasswordFields(token: string, username: string, label = 'Password'): SafeHtml {
  return html`<input type="hidden" name="token" value="${token}">
${input('username', 'Email (your username)', { type: 'email', value: username, readonly: true, autocomplete: 'username' })}
${input('password', label, { type: 'password', required: true, autocomplete: 'new-password', hint: PASSWORD_RULE })}
${input('confirmation', `Confirm ${label.toLowerCase()}`, { type: 'password', required: true, autocomplete: 'new-password' })}`;
}


/** The registration form the verification link opens: username locked, password chosen here. */
export function registrationPage(csrf: SafeHtml, view: { token: string; username: string; firstName: string; lastName: string; error?: string }, status = 200): Page {
  return formPage({
    title: 'Start your free trial',
    status,
    error: view.error,
    intro: html`<p>Choose a password to create your account. Your trial starts right away.</p>`,
    csrf,
    action: '/trial/register',
    fields: html`${newPasswordFields(view.token, view.username)}
${input('firstname', 'First name', { value: view.firstName, autocomplete: 'given-name' })}
${input('lastname', 'Last name', { value: view.lastName, autocomplete: 'family-name' })}`,
    submit: 'Create my account',
  });
}

export function trialReadyPage(view: { username: string; appName: string; trialEndsAt: string; signedIn: boolean }): Page {
  return {
    title: 'Your trial is ready',
    status: 201,
    body: html`<p>Your account <strong>${view.username}</strong> is created.</p>
<dl><dt>Your app</dt><dd id="app-name">${view.appName}</dd><dt>Trial ends</dt><dd id="trial-ends">${day(view.trialEndsAt)}</dd></dl>
<p>${view.signedIn ? html`<a class="button" href="/trial/app">Open my app</a>` : html`<a class="button" href="/login">Log in</a>`}</p>`,
  };
}

export function loginPage(csrf: SafeHtml, view: { username?: string; error?: string } = {}, status = 200): Page {
  return formPage({
    title: 'Log in',
    status,
    error: view.error,
    csrf,
    action: '/login',
    fields: html`${input('username', 'Email or username', { value: view.username ?? '', required: true, autocomplete: 'username' })}
${input('password', 'Password', { type: 'password', required: true, autocomplete: 'current-password' })}`,
    submit: 'Log in',
  });
}

/** The login refusal of an expired trial (Toucan's TrialExpirationAuthenticator in Keycloak). */
export function trialExpiredPage(view: Pick<TrialInfos, 'trialEndsAt'>): Page {
  return {
    title: 'Your free trial has ended',
    status: 403,
    body: html`<p class="error">Your free trial ended${view.trialEndsAt ? html` on ${day(view.trialEndsAt)}` : ''}, so you can no longer log in.</p>
<p>Your app is kept: contact us to extend the trial or to subscribe.</p>`,
  };
}

export function trialHomePage(csrf: SafeHtml, home: TrialHome): Page {
  const infos = home.infos;
  return {
    title: home.app ? home.app.name : 'Your account',
    body: html`<p>Signed in as <strong>${home.username}</strong>.</p>
${home.app
  ? html`<dl><dt>App</dt><dd id="app-name">${home.app.name}</dd><dt>App id</dt><dd>${home.app.id}</dd>
${infos?.trialEndsAt && infos.status !== 'converted' ? html`<dt>Trial ends</dt><dd>${day(infos.trialEndsAt)} (${infos.daysLeft} day${infos.daysLeft === 1 ? '' : 's'} left)</dd>` : ''}
${infos?.status === 'converted' ? html`<dt>Plan</dt><dd>Subscribed</dd>` : ''}</dl>`
  : html`<p>No app is attached to this account.</p>`}
${signOutForm(csrf)}`,
  };
}

export function passwordResetRequestPage(csrf: SafeHtml, error?: string, status = 200): Page {
  return formPage({
    title: 'Reset your password',
    status,
    error,
    intro: html`<p>Enter the address of your account: we mail you a link to choose a new password.</p>`,
    csrf,
    action: '/trial/password-reset',
    fields: input('username', 'Email', { type: 'email', required: true, autocomplete: 'username' }),
    submit: 'Send the link',
  });
}

export function passwordResetSentPage(): Page {
  return {
    title: 'Check your inbox',
    status: 202,
    body: html`<p>If this address has an account, a link to choose a new password is on its way. It works once, for one hour.</p>`,
  };
}

export function newPasswordPage(csrf: SafeHtml, view: { token: string; username: string; error?: string }, status = 200): Page {
  return formPage({
    title: 'Choose a new password',
    status,
    error: view.error,
    csrf,
    action: '/trial/password-reset/new',
    fields: newPasswordFields(view.token, view.username, 'New password'),
    submit: 'Change my password',
  });
}

export function passwordChangedPage(): Page {
  return { title: 'Password changed', body: html`<p>Your new password is set.</p><p><a class="button" href="/login">Log in</a></p>` };
}
