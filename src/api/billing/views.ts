// The billing portal's pages, each a view that returns { title, body } for the one layout.
import { checkbox, form, html, input, Page, problem, SafeHtml } from '../pages';
import type { BillingUserView } from '../../domain/billing';
import type { FlowFailure } from '../../shared/failures';
import { BillingFailure, type BillingIdentity, type NextPage } from '../../workflows/billing/messages';

export const TOS_REQUIRED = 'You must accept the Terms of Service to proceed.';

const PAGE_TITLES: Record<NextPage, string> = {
  plans: 'Plans and pricing',
  billing: 'Billing',
  upgrade: 'Upgrade',
  sponsorship: 'Sponsorship',
  deactivate: 'Deactivate',
};

/** Step 1 for a first login: confirm (or correct) the email address the server sent. */
export function emailFormPage(csrf: SafeHtml, options: { action: string; email: string; about: SafeHtml | string; hidden?: Record<string, string> }): Page {
  const hidden = Object.entries(options.hidden ?? {}).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  return {
    title: 'Log in to plan management',
    body: html`<p>${options.about}</p>
<p>We will send a confirmation link to this email address.</p>
${form(csrf, options.action, html`${hidden}${input('email', 'Email', { type: 'email', value: options.email, required: true, autocomplete: 'email' })}`, 'Send confirmation email')}`,
  };
}

export function checkEmailPage(email: string, ttlMs: number, reusable: boolean): Page {
  const hours = Math.round(ttlMs / 3600_000);
  const validity = hours >= 1 ? html` for ${hours} hours` : '';
  return {
    title: 'Check your email',
    body: html`<p>We sent a confirmation link to <strong>${email}</strong>.</p>
<p>Click the link in the email to continue. ${reusable ? html`It logs you in${validity}, as often as you need.` : html`It can be used once${hours >= 1 ? html` and is valid${validity}` : ''}.`}</p>`,
  };
}

/** The confirm-login step, shared by realm and server logins. */
export function confirmLoginPage(
  csrf: SafeHtml,
  options: { action: string; user: BillingUserView; about: SafeHtml | string; tosNeeded: boolean; fullName?: string; error?: string },
): Page {
  const { user } = options;
  const fields = html`${input('email', 'Email', { type: 'email', value: user.email, readonly: true })}
${input('full_name', 'Full name', { value: options.fullName ?? user.fullName, required: true, autocomplete: 'name' })}
${checkbox('enable_major_release_emails', 'Send me emails about major releases', user.enableMajorReleaseEmails)}
${checkbox('enable_maintenance_release_emails', 'Send me emails about maintenance releases', user.enableMaintenanceReleaseEmails)}
${options.tosNeeded ? checkbox('tos_consent', 'I agree to the Terms of Service') : ''}`;
  return {
    title: 'Confirm login',
    status: options.error ? 400 : 200,
    body: html`${problem(options.error)}
<p>${options.about}</p>
${form(csrf, options.action, fields, 'Continue')}`,
  };
}

/** The legacy server-level login: the server's UUID and key instead of a self-hosted server's access URL. */
export function serverLoginPage(csrf: SafeHtml, options: { nextPage: NextPage | null; uuid?: string; error?: string; status?: number }): Page {
  const fields = html`${options.nextPage ? html`<input type="hidden" name="next_page" value="${options.nextPage}">` : ''}
${input('zulip_org_id', 'Server UUID (zulip_org_id)', { value: options.uuid ?? '', required: true })}
${input('zulip_org_key', 'Server key (zulip_org_key)', { type: 'password', required: true, autocomplete: 'off' })}`;
  return {
    title: 'Log in to plan management for your server',
    status: options.status,
    body: html`${problem(options.error)}
<p>Enter the UUID and key from your server's <code>/etc/zulip/zulip-secrets.conf</code>.</p>
${form(csrf, '/serverlogin/', fields, 'Continue')}`,
  };
}

/** The legacy login form's refusal, worded for the person at the form (the API answers in Zulip's words). */
export function serverLoginRefusal(failure: FlowFailure, uuid: string): { error: string; status: number } {
  if (failure === BillingFailure.unknownServer) return { error: `Zulip server ${uuid} is not registered.`, status: 401 };
  if (failure === BillingFailure.serverDeactivated) return { error: 'Your server registration has been deactivated.', status: 403 };
  return { error: 'The key for this server is not correct.', status: 401 };
}

/** A signed-in portal page. Plans and payment themselves live elsewhere; this shows who is signed in for what. */
export function portalPage(options: {
  page: NextPage;
  user: BillingUserView;
  organization: { label: string; name: string; host: string; plan: string | null };
  links: { page: NextPage; href: string }[];
}): Page {
  const { user, organization } = options;
  return {
    title: PAGE_TITLES[options.page],
    body: html`<dl>
<dt>${organization.label}</dt><dd id="organization">${organization.name || organization.host}</dd>
<dt>Host</dt><dd>${organization.host}</dd>
<dt>Plan</dt><dd id="plan">${organization.plan ?? 'None (self-managed)'}</dd>
<dt>Signed in as</dt><dd id="billing-user">${user.fullName} &lt;${user.email}&gt;</dd>
</dl>
<p class="muted">${options.links.filter((l) => l.page !== options.page).map((l, i) => html`${i ? ' · ' : ''}<a href="${l.href}">${PAGE_TITLES[l.page]}</a>`)}</p>`,
  };
}

export function identityAbout(identity: BillingIdentity, organization: { name: string; host: string }): SafeHtml {
  return identity.kind === 'realm'
    ? html`Plan management for <strong>${organization.name || organization.host}</strong> (${organization.host}).`
    : html`Plan management for the server <strong>${organization.host}</strong>.`;
}
