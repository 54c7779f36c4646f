// The team invitation's pages, each a view that returns { title, body } for the one layout.
import { checkbox, form, html, input, Page, problem, SafeHtml, signOutForm } from '../pages';

const day = (d: Date | null | undefined): string => (d ? d.toISOString().slice(0, 10) : 'no expiry');

interface OpenedInvitation {
  row: { inviteeEmail: string | null; message: string | null; expiresOn: Date | null; inviteeId: number | null; teamId: number };
  teamName: string;
  inviterName: string;
}

/** The page the emailed link opens: who invites to what, and Synapse's two choices. */
export function invitationPage(token: string, { row, teamName, inviterName }: OpenedInvitation): Page {
  const details = html`<dl>
<dt>Team</dt><dd id="team">${teamName}</dd>
<dt>Invited by</dt><dd id="inviter">${inviterName}</dd>
${row.inviteeEmail ? html`<dt>Sent to</dt><dd>${row.inviteeEmail}</dd>` : ''}
${row.message ? html`<dt>Message</dt><dd id="message">${row.message}</dd>` : ''}
<dt>Expires</dt><dd>${day(row.expiresOn)}</dd>
</dl>`;
  const choices =
    row.inviteeId !== null
      ? html`<p>This invitation has been accepted by an account. Sign in with it to join the team.</p>
<p><a class="button" id="existing-account" href="/join/invitation/${token}/sign-in">Sign in</a></p>`
      : html`<p>To join, use an account you already have or create a new one.</p>
<p><a class="button" id="create-account" href="/join/invitation/${token}/register">Create an account</a>
<a class="button secondary" id="existing-account" href="/join/invitation/${token}/sign-in">I already have an account</a></p>`;
  return { title: `Join ${teamName}`, body: html`${details}${choices}` };
}

export function registerPage(csrf: SafeHtml, token: string, email: string, reason?: string, status = 200): Page {
  return {
    title: 'Create an account',
    status,
    body: html`${problem(reason)}<p>We will send a link to this address to confirm it.</p>
${form(csrf, `/join/invitation/${token}/register`, html`${input('email', 'Email', { type: 'email', value: email, readonly: true })}
${input('firstName', 'First name', { required: true, autocomplete: 'given-name' })}
${input('lastName', 'Last name', { required: true, autocomplete: 'family-name' })}`, 'Send registration info')}`,
  };
}

export function checkEmailPage(email: string, ttlMs: number): Page {
  return {
    title: 'Check your email',
    body: html`<p>We sent a link to <strong id="sent-to">${email}</strong>. Open it to create your account; it works for ${Math.round(ttlMs / 3600_000)} hours.</p>`,
  };
}

export function signInPage(csrf: SafeHtml, action: string, reason?: string, status = 200): Page {
  return {
    title: 'Sign in',
    status,
    body: html`${problem(reason)}${form(csrf, action, html`${input('username', 'Username or email', { required: true, autocomplete: 'username' })}
${input('password', 'Password', { type: 'password', required: true, autocomplete: 'current-password' })}`, 'Sign in')}`,
  };
}

export function newAccountPage(csrf: SafeHtml, token: string, email: string, termsVersion: string, options: { reason?: string; values?: Record<string, string>; status?: number } = {}): Page {
  const values = options.values ?? {};
  const value = (name: string) => (typeof values[name] === 'string' ? values[name] : undefined);
  return {
    title: 'Create your account',
    status: options.status,
    body: html`${problem(options.reason)}${form(
      csrf,
      `/join/account/${token}`,
      html`${input('email', 'Email', { type: 'email', value: email, readonly: true })}
${input('firstName', 'First name', { required: true, value: value('firstName'), autocomplete: 'given-name' })}
${input('lastName', 'Last name', { required: true, value: value('lastName'), autocomplete: 'family-name' })}
${input('username', 'Username', { required: true, value: value('username'), autocomplete: 'username', hint: 'At least 3 characters: letters, digits, dot, dash or underscore.' })}
${input('password', 'Password', { type: 'password', required: true, autocomplete: 'new-password', hint: 'At least 8 characters with a letter, a digit and a symbol.' })}
${checkbox('acceptTerms', `I accept the terms of use (version ${termsVersion})`)}`,
      'Create account',
    )}`,
  };
}

export function verificationMailedPage(inviteeEmail: string, mailed: boolean, phase: 1 | 2): Page {
  const next =
    phase === 1
      ? html`<p>Sign in with the account of that address to accept the invitation, or create one from the invitation link.</p>`
      : mailed
        ? html`<p id="verification-mailed">We sent a link to ${inviteeEmail}. If that address is yours, open the link while signed in to this account to accept the invitation.</p>`
        : html`<p>Several confirmation links were already sent to that address today. Use one of them, or try again tomorrow.</p>`;
  return {
    title: 'Confirm it is you',
    status: 403,
    body: html`<p class="error">The invitation was sent to <strong>${inviteeEmail}</strong>, which is not the email address of the account you signed in with.</p>
${next}`,
  };
}

export function unsubscribePage(csrf: SafeHtml, token: string, email: string): Page {
  return {
    title: 'Stop invitation notices',
    body: html`<p>Team admins can invite your account <strong>${email}</strong> to their teams; each invitation sends you a notice.</p>
<p>Without notices, invitations still show on your teams page.</p>
${form(csrf, `/join/unsubscribe/${token}`, html``, 'Stop these notices')}`,
  };
}

export function unsubscribedPage(email: string): Page {
  return {
    title: 'You are unsubscribed',
    body: html`<p id="unsubscribed">No more invitation notices will be sent to <strong>${email}</strong>. Invitations to your account still show on your teams page.</p>`,
  };
}

export function confirmVerificationPage(csrf: SafeHtml, token: string, teamName: string, username: string, signedIn: boolean): Page {
  const fields = signedIn
    ? html``
    : html`<p>Sign in as <strong>${username}</strong> to continue.</p>
${input('username', 'Username or email', { required: true, value: username, autocomplete: 'username' })}
${input('password', 'Password', { type: 'password', required: true, autocomplete: 'current-password' })}`;
  return {
    title: 'Confirm the invitation',
    body: html`<p>Accept the invitation to <strong>${teamName}</strong> for the account <strong>${username}</strong>.</p>
${form(csrf, `/join/verify/${token}`, fields, 'Accept invitation')}`,
  };
}

export function teamPage(
  csrf: SafeHtml,
  { team, isMember, members, joined }: {
    team: { id: number; name: string };
    isMember: boolean;
    invitation: { id: number; message: string | null } | null;
    /** Only for a member: an invitee sees the team, not who is in it. */
    members?: { member: { isAdmin: boolean }; account?: { username: string } }[];
    joined: boolean;
  },
): Page {
  // The page is shown only to a member or an invitee.
  const status = isMember
    ? html`<p id="membership">${joined ? 'Welcome! ' : ''}You are a member of this team.</p>`
    : html`<p id="membership">You have an open invitation to this team.</p>${form(csrf, `/join/team/${team.id}/join`, html``, 'Join')}`;
  const memberList = members
    ? html`<h2>Members</h2>
<ul id="members">${members.map((m) => html`<li>${m.account?.username ?? 'unknown'}${m.member.isAdmin ? ' (admin)' : ''}</li>`)}</ul>
`
    : '';
  return {
    title: team.name,
    body: html`${status}
${memberList}${signOutForm(csrf)}`,
  };
}

export function teamsPage(csrf: SafeHtml, teams: { id: number; name: string }[], invitedTeams: { id: number; name: string }[]): Page {
  return {
    title: 'Your teams',
    body: html`${signOutForm(csrf)}${teams.length ? html`<ul>${teams.map((t) => html`<li><a href="/join/team/${t.id}">${t.name}</a></li>`)}</ul>` : html`<p>You are not a member of any team yet.</p>`}
${invitedTeams.length ? html`<h2>Invitations</h2><ul>${invitedTeams.map((t) => html`<li><a href="/join/team/${t.id}">${t.name}</a></li>`)}</ul>` : ''}`,
  };
}
