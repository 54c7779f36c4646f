// The team invitation's JSON API as its clients see it (Synapse's /repo/v1
// and /auth/v1): the schemas its routes validate with, what each answers,
// examples.
import { z } from 'zod';
import { accountRequired, Answer, Contract, describing, deviceCookieSet, invalidRequest, linkEndpointParam, ok, Operation, pathIdParam, refused, tryAgain, unavailable } from '../contract';
import type { invitationStatistics } from '../../domain/invitation';
import { InvitationFailure, MembershipInvitation, RESENDS_PER_DAY } from '../../workflows/invitation/messages';
import { newUser } from './flow';
import { accountSetupInfo, login, MEMBERS_FOR_MEMBERS, TEAM_FOR_MEMBERS_AND_INVITEES, teamBody } from './accounts';
import { invitationSubmission, inviteeVerificationToken, membershipInvtnSignedToken, notificationUnsubscribeToken, statisticsQuery } from './routes';

const ACCESS_TOKEN = 'eyJzdWIiOjcsImdlbiI6MCwiZXhwIjoxNzc3OTI4NDAwMDAwLCJobWFjIjoiQnhvR09uTzZSQmoyOUZRMFRNa2s1UGVuXy1pQ1pmal9VNWtpajhMQnEtNCJ9';
const CREATED_ON = '2026-05-04T09:00:00.000Z';
const INVITATION = { id: '12', teamId: '5', inviteeEmail: 'grace@example.com', message: 'Join us', createdOn: CREATED_ON, createdBy: '7', expiresOn: '2026-06-03T09:00:00.000Z' };
const STATISTICS = { created: 1, boundViaNewAccount: 0, boundViaExistingAccount: 1, emailValidationRequests: 0, verificationRefused: 0, joined: 0, expired: 0, revoked: 0 };
const UNSUBSCRIBE_TOKEN = { accountId: '8', createdOn: CREATED_ON, expiresOn: '2026-06-03T09:00:00.000Z', hmac: 'q2Xo1p0iY7Vd8mQp3b6nHcL9wE4tR5yU1iO0pA2sD3f' };
const INVITATION_TOKEN = { membershipInvitationId: '12', expiresOn: '2026-06-03T09:00:00.000Z', createdOn: CREATED_ON, hmac: '9pjxm0mjLJn-LCA8f-uZcf4CkfPQXKgAOXM4gCek57w' };
const VERIFICATION_TOKEN = { inviteeId: '8', membershipInvitationId: '12', expiresOn: '2026-05-05T09:00:00.000Z', createdOn: CREATED_ON, hmac: '5zXL5rknvDTSHWLeUsDyRl4DzcikYct6qESkCIXuP08' };
const EMAIL_VALIDATION = { email: 'grace@example.com', createdOn: CREATED_ON, expiresOn: '2026-05-05T09:00:00.000Z', hmac: 'WRqfZkJ8uzw0K4qvS1kFOdzM2MQY3TAHbtFA-SkgvQo' };
const TEAM = { id: '5', name: 'Crew', createdBy: '7', createdOn: CREATED_ON };

const id = z.string().regex(/^\d+$/);
const membershipInvitation = describing<MembershipInvitation>()(
  z
    .strictObject({
      id,
      teamId: id,
      inviteeId: id.optional(),
      inviteeEmail: z.string().optional(),
      message: z.string().optional(),
      createdOn: z.iso.datetime(),
      createdBy: id,
      expiresOn: z.iso.datetime().optional(),
    })
    .meta({ id: 'MembershipInvitation' }),
);
const team = z.strictObject({ id, name: z.string(), createdBy: id, createdOn: z.iso.datetime() }).meta({ id: 'Team' });
const accessToken = z.strictObject({ accessToken: z.string() }).meta({ id: 'AccessToken' });
const inviteeVerificationSignedToken = z
  .strictObject({ inviteeId: id, membershipInvitationId: id, expiresOn: z.iso.datetime(), createdOn: z.iso.datetime(), hmac: z.string() })
  .meta({ id: 'InviteeVerificationSignedToken' });
const invitationCounts = {
  created: z.number().int(),
  boundViaNewAccount: z.number().int(),
  boundViaExistingAccount: z.number().int(),
  emailValidationRequests: z.number().int().meta({ description: 'Registrations (email validation mails) the invitation started.' }),
  verificationRefused: z.number().int(),
  joined: z.number().int(),
  expired: z.number().int(),
  revoked: z.number().int(),
};
const statistics = describing<Awaited<ReturnType<typeof invitationStatistics>>>()(
  z.strictObject({
    teamId: id,
    ...invitationCounts,
    byInviter: z.array(z.strictObject({ inviterId: id, ...invitationCounts })),
    invitations: z.array(membershipInvitation.extend({ boundVia: z.string().optional().meta({ description: '`new_account` or `existing_account`.' }) })),
  }),
);
const teamMembers = z.strictObject({
  totalNumberOfResults: z.number().int(),
  results: z.array(
    z.strictObject({
      teamId: id,
      member: z.strictObject({ ownerId: id, userName: z.string().nullable(), firstName: z.string().nullable(), lastName: z.string().nullable() }),
      isAdmin: z.boolean(),
    }),
  ),
});

const teamPath = z.object({ id: pathIdParam('team', '5') });
const invitationPath = z.object({ id: pathIdParam('invitation', '12') });
const tokenRefused = (description: string) => refused(description, { problem: true });
const noAccessToken = { summary: 'Without an access token', status: 401, credentials: { account: 'omitted' }, answer: { reason: 'Authentication required: send Authorization: Bearer <accessToken>.' } } as const;

/** A read of one team (`/…/:id`) for the accounts it concerns: 200 for them, 403 for other accounts, 401 without one, 404 for no such team. */
function teamRead(read: { summary: string; description: string; found: Answer; forOthers: string; example: { summary: string; answer: unknown } }): Operation {
  const otherTeam = { id: '6' };
  return {
    summary: read.summary,
    description: read.description,
    security: [['account']],
    path: teamPath,
    answers: { 200: read.found, 401: accountRequired, 403: refused(read.forOthers), 404: refused('There is no such team.') },
    examples: {
      found: { ...read.example, status: 200, path: { id: '5' } },
      notYours: { summary: 'Another team', status: 403, path: otherTeam, answer: { reason: read.forOthers } },
      unknown: { summary: 'No such team', status: 404, path: { id: '999999999' }, answer: { reason: 'There is no such team.' } },
      noAccessToken: { ...noAccessToken, path: { id: '5' } },
    },
  };
}

export const accountsContract: Contract = {
  tag: 'Accounts and teams',
  description: 'Sign-up by email validation, sign-in, teams and their members (Synapse). Ids are strings in answers; numbers and numeric strings are accepted in requests.',
  operations: {
    'POST /repo/v1/account/emailValidation': {
      summary: 'Ask for the registration link',
      description:
        'Mails "Welcome to flowgate" with a link to `portalEndpoint` + the serialized AccountCreationToken; an address that has an account gets a notice instead, and the answer is the same. ' +
        'At most 5 mails per address in 24 hours. `encodedMembershipInvtnSignedToken` carries an invitation to bind once the account exists.',
      query: z.object({ portalEndpoint: linkEndpointParam('ACCOUNT_CREATION_ENDPOINTS') }),
      body: newUser,
      answers: {
        201: ok('Accepted, the same for every address.', z.strictObject({})),
        400: invalidRequest,
        403: tokenRefused('The carried invitation token is not valid.'),
        429: refused('The address had its registration mails for the day.', { codes: [InvitationFailure.registrationLimitReached], retryAfter: true }),
        503: unavailable,
      },
      examples: {
        requested: { summary: 'Ask for the link', status: 201, body: { email: 'grace@example.com', firstName: 'Grace', lastName: 'Hopper' }, answer: {} },
        offSitePortal: {
          summary: 'A portalEndpoint the server does not allow',
          status: 400,
          query: { portalEndpoint: 'https://evil.example/' },
          body: { email: 'grace@example.com', firstName: 'Grace', lastName: 'Hopper' },
          answer: { reason: 'portalEndpoint must be one of: https://flowgate.example.com/join/account/.' },
        },
        forgedInvitation: {
          summary: 'A carried invitation token nobody issued',
          status: 403,
          body: { email: 'grace@example.com', firstName: 'Grace', lastName: 'Hopper', encodedMembershipInvtnSignedToken: 'bm90LWEtdG9rZW4' },
          answer: { reason: 'The token is not in the expected format.', problem: 'malformed' },
        },
      },
    },

    'POST /repo/v1/account': {
      summary: 'Create an account from a validated email',
      description:
        'With the EmailValidationSignedToken of the registration link (as an object or serialized). The username is lower-cased and must match `^[a-z0-9._-]{3,}$`; the password needs 8+ characters with a letter, a digit and a symbol. ' +
        'A carried invitation sent to the same address is bound to the new account.',
      body: accountSetupInfo,
      answers: {
        201: ok('The account exists; an access token for it.', accessToken),
        400: invalidRequest,
        403: tokenRefused('The email validation token is tampered with or expired.'),
        409: refused('The username is taken, or the validation was used for an account already.', { codes: [InvitationFailure.accountExists, InvitationFailure.usernameTaken] }),
        410: refused('The registration link has lapsed: ask for a new one.'),
        503: unavailable,
      },
      examples: {
        created: {
          summary: 'Create the account',
          status: 201,
          body: { firstName: 'Grace', lastName: 'Hopper', username: 'grace', password: 'Cobol-1959!', emailValidationSignedToken: EMAIL_VALIDATION },
          answer: { accessToken: ACCESS_TOKEN },
        },
        badUsername: {
          summary: 'A username with spaces',
          status: 400,
          body: { firstName: 'Grace', lastName: 'Hopper', username: 'grace hopper', password: 'Cobol-1959!', emailValidationSignedToken: EMAIL_VALIDATION },
          answer: { reason: 'username: use at least 3 characters: letters, digits, dot, dash or underscore.' },
        },
        tampered: {
          summary: 'A token whose address was changed',
          status: 403,
          body: { firstName: 'Grace', lastName: 'Hopper', username: 'grace', password: 'Cobol-1959!', emailValidationSignedToken: { ...EMAIL_VALIDATION, email: 'mallory@example.com' } },
          answer: { reason: 'The token signature is not valid.', problem: 'invalid' },
        },
        usernameTaken: {
          summary: 'A username somebody has',
          status: 409,
          body: { firstName: 'Grace', lastName: 'Hopper', username: 'ada', password: 'Cobol-1959!', emailValidationSignedToken: EMAIL_VALIDATION },
          answer: { reason: 'The username "ada" is already taken.', code: 'username_taken' },
        },
        alreadyCreated: {
          summary: 'The same validation again',
          status: 409,
          body: { firstName: 'Grace', lastName: 'Hopper', username: 'grace2', password: 'Cobol-1959!', emailValidationSignedToken: EMAIL_VALIDATION },
          answer: { reason: 'This email validation was already used: an account exists for this address.', code: 'account_exists' },
        },
      },
    },

    'POST /auth/v1/login': {
      summary: 'Sign in',
      description:
        'With the username or the email address; attempts count per account, whichever name is typed. Repeated failures back off (429 with `Retry-After`). A success sets the device cookie: a client that keeps it and sends it with its later sign-ins is counted on its own.',
      body: login,
      answers: {
        200: ok('An access token for `Authorization: Bearer`.', accessToken, deviceCookieSet),
        400: invalidRequest,
        401: refused('Wrong username or password (the same answer for an unknown username).'),
        429: refused('Repeated failures: sign-in backs off.', { retryAfter: true }),
      },
      examples: {
        signedIn: { summary: 'Sign in', status: 200, body: { username: 'grace', password: 'Cobol-1959!' }, answer: { accessToken: ACCESS_TOKEN } },
        wrongPassword: { summary: 'A wrong password', status: 401, body: { username: 'grace', password: 'not-the-password' }, answer: { reason: 'Wrong username or password.' } },
        backingOff: { summary: 'The sixth failure in a row', status: 429, body: { username: 'grace', password: 'not-the-password' }, answer: { reason: 'Too many failed sign-ins: try again in 30 seconds.', retryAfterSeconds: 30 } },
      },
    },

    'POST /auth/v1/logout': {
      summary: 'Sign out everywhere',
      description: 'Ends every session of the account: every access token issued so far.',
      security: [['account']],
      answers: { 204: ok('Signed out.'), 401: accountRequired },
      examples: { signedOut: { summary: 'Sign out', status: 204 }, noAccessToken },
    },

    'POST /repo/v1/team': {
      summary: 'Create a team',
      description: 'The caller becomes its admin. `name`: 1 to 100 characters, no control characters.',
      security: [['account']],
      body: teamBody,
      answers: { 201: ok('The team.', team), 400: invalidRequest, 401: accountRequired },
      examples: {
        created: { summary: 'Create a team', status: 201, body: { name: 'Crew' }, answer: TEAM },
        emptyName: { summary: 'An empty name', status: 400, body: { name: ' ' }, answer: { reason: 'name: is required.' } },
        noAccessToken: { ...noAccessToken, body: { name: 'Crew' } },
      },
    },

    'GET /repo/v1/team/:id': teamRead({
      summary: 'A team',
      description: "For the team's members and the accounts it has an open invitation bound to (to join it); anyone else gets 403.",
      found: ok('The team.', team),
      forOthers: TEAM_FOR_MEMBERS_AND_INVITEES,
      example: { summary: 'A team', answer: TEAM },
    }),

    'GET /repo/v1/teamMembers/:id': teamRead({
      summary: "A team's members",
      description: "For the team's members only (its admins are members): names and usernames are not shown to anyone else, invitees included.",
      found: ok('The members.', teamMembers),
      forOthers: MEMBERS_FOR_MEMBERS,
      example: {
        summary: 'The members',
        answer: { totalNumberOfResults: 1, results: [{ teamId: '5', member: { ownerId: '7', userName: 'ada', firstName: 'Ada', lastName: 'Lovelace' }, isAdmin: true }] },
      },
    }),

    'PUT /repo/v1/team/:id/member/:principalId': {
      summary: 'Add a member, or join',
      description:
        'An admin adds any account. Anyone else adds only themselves, with an open invitation bound to them (the one-click Join), which closes the invitation. Already a member: 204, no change.',
      security: [['account']],
      path: z.object({ id: pathIdParam('team', '5'), principalId: pathIdParam('account', '8') }),
      answers: {
        204: ok('A member.'),
        401: accountRequired,
        403: refused('An invitation is required to join the team.', { codes: [InvitationFailure.notInvited] }),
        404: refused('There is no such team or account.'),
        409: tryAgain(InvitationFailure.notYetRecorded),
        503: unavailable,
      },
      examples: {
        added: { summary: 'An admin adds an account', status: 204, path: { id: '5', principalId: '8' } },
        joined: { summary: 'The invitee joins with the invitation bound to them', status: 204, path: { id: '5', principalId: '8' } },
        notInvited: { summary: 'Joining without an invitation', status: 403, path: { id: '5', principalId: '9' }, answer: { reason: 'An invitation is required to join the team.', code: 'invitation_required' } },
        unknownTeam: { summary: 'No such team', status: 404, path: { id: '999999999', principalId: '8' }, answer: { reason: 'There is no such team.' } },
      },
    },
  },
};

export const invitationContract: Contract = {
  tag: 'Invitations',
  description:
    "Membership invitations (Synapse's /repo/v1/membershipInvitation): the invitee gets a mail whose link is `acceptInvitationEndpoint` + the serialized MembershipInvtnSignedToken, then binds the invitation to an account and joins.",
  operations: {
    'POST /repo/v1/membershipInvitation': {
      summary: 'Invite to a team',
      description:
        'A team admin invites an address (`inviteeEmail`) or an account (`inviteeId`), exactly one of them; `expiresOn` within `INVITATION_MAX_LIFETIME`. Daily caps on invitation mails (first mails and resends) per inviter, team and invitee address (for an invitation to an account, the address of the account). ' +
        'With an `Idempotency-Key`, a retried request answers with the invitation the first one created, for 24 hours.',
      security: [['account']],
      query: z.object({ acceptInvitationEndpoint: linkEndpointParam('ACCEPT_INVITATION_ENDPOINTS') }),
      headers: z.object({ 'Idempotency-Key': z.string().regex(/^[\x21-\x7e]{1,255}$/).optional().meta({ description: '1 to 255 visible ASCII characters, e.g. a UUID; per caller.' }) }),
      body: invitationSubmission,
      answers: {
        201: ok('The invitation, as recorded; the mail is on its way.', membershipInvitation),
        400: invalidRequest,
        401: accountRequired,
        403: refused('Only a team admin may invite.'),
        404: refused('There is no such team.'),
        409: refused('The invitee is a member already.'),
        422: refused('The Idempotency-Key was used for a different request.'),
        429: refused('A daily cap on invitation mails was reached.', { codes: [InvitationFailure.limitReached], retryAfter: true }),
        503: unavailable,
      },
      examples: {
        invited: { summary: 'Invite an address', status: 201, headers: { 'Idempotency-Key': 'e4b7c9a2-3f1d-4c8e-9a6b-5d2f1e0c7b3a' }, body: { teamId: '5', inviteeEmail: 'grace@example.com', message: 'Join us' }, answer: INVITATION },
        toAccount: {
          summary: 'Invite an account (it gets a notice with an unsubscribe link)',
          status: 201,
          body: { teamId: '6', inviteeId: '8', message: 'Join us' },
          answer: { id: '13', teamId: '6', inviteeId: '8', message: 'Join us', createdOn: CREATED_ON, createdBy: '7', expiresOn: INVITATION.expiresOn },
        },
        retried: { summary: 'The same request with the same key', status: 201, headers: { 'Idempotency-Key': 'e4b7c9a2-3f1d-4c8e-9a6b-5d2f1e0c7b3a' }, body: { teamId: '5', inviteeEmail: 'grace@example.com', message: 'Join us' }, answer: INVITATION },
        keyReused: {
          summary: 'The same key with another request',
          status: 422,
          headers: { 'Idempotency-Key': 'e4b7c9a2-3f1d-4c8e-9a6b-5d2f1e0c7b3a' },
          body: { teamId: '5', inviteeEmail: 'alan@example.com' },
          answer: { reason: 'Idempotency-Key: this key was already used for a different request.' },
        },
        bothInvitees: { summary: 'Both an address and an account', status: 400, body: { teamId: '5', inviteeId: '8', inviteeEmail: 'grace@example.com' }, answer: { reason: 'Exactly one of inviteeId and inviteeEmail is required.' } },
        notAdmin: { summary: 'A member who is not an admin', status: 403, body: { teamId: '5', inviteeEmail: 'alan@example.com' }, answer: { reason: 'Only a team admin may do this.' } },
        alreadyMember: { summary: 'An account that is a member', status: 409, body: { teamId: '5', inviteeId: '7' }, answer: { reason: 'The invitee is already a member of the team.' } },
      },
    },

    'GET /repo/v1/membershipInvitation/statistics': {
      summary: "A team's invitation statistics",
      description: 'Counts per team; `expired` counts invitations whose timer fired.',
      security: [['account']],
      query: statisticsQuery,
      answers: { 200: ok('The counts.', statistics), 400: invalidRequest, 401: accountRequired, 403: refused('Only a team admin may do this.'), 404: refused('There is no such team.') },
      examples: {
        counts: {
          summary: 'The counts',
          status: 200,
          query: { teamId: '5' },
          answer: {
            teamId: '5',
            ...STATISTICS,
            byInviter: [{ inviterId: '7', ...STATISTICS }],
            invitations: [{ ...INVITATION, inviteeId: '8', boundVia: 'existing_account' }],
          },
        },
        notAdmin: { summary: 'A member who is not an admin', status: 403, query: { teamId: '5' }, answer: { reason: 'Only a team admin may do this.' } },
      },
    },

    'POST /repo/v1/membershipInvitation/:id': {
      summary: 'Read an invitation with its emailed token',
      description: 'The holder of the MembershipInvtnSignedToken (the JSON object the emailed link carries) reads the invitation it names.',
      path: invitationPath,
      body: membershipInvtnSignedToken,
      answers: {
        200: ok('The invitation.', membershipInvitation),
        400: invalidRequest,
        403: tokenRefused('The token is tampered with, expired or for another invitation, or the invitation has expired.'),
        404: refused('There is no such invitation.'),
        410: refused('The invitation was withdrawn.'),
      },
      examples: {
        read: { summary: 'Read the invitation', status: 200, path: { id: '12' }, body: INVITATION_TOKEN, answer: INVITATION },
        tampered: { summary: 'A token with another hmac', status: 403, path: { id: '12' }, body: { ...INVITATION_TOKEN, hmac: 'A'.repeat(43) }, answer: { reason: 'The token signature is not valid.', problem: 'invalid' } },
        withdrawn: { summary: 'A withdrawn invitation', status: 410, path: { id: '12' }, body: INVITATION_TOKEN, answer: { reason: 'This invitation was withdrawn by the team.' } },
      },
    },

    'GET /repo/v1/membershipInvitation/:id/inviteeVerificationSignedToken': {
      summary: 'Verify the invitee',
      description:
        "Only the invitee may ask: an account with the invited address gets an InviteeVerificationSignedToken; a caller holding the emailed link (`X-Invitation-Token`) whose account has another address gets 403 and a confirmation link mailed to the invited address. Anyone else gets one answer whatever the invitation's state.",
      security: [['account'], ['account', 'invitationLink']],
      path: invitationPath,
      query: z.object({ portalEndpoint: linkEndpointParam('INVITEE_VERIFICATION_ENDPOINTS') }),
      answers: {
        200: ok('The token for `PUT .../inviteeId`.', inviteeVerificationSignedToken),
        400: refused('A portalEndpoint not allowed, or the invitation is closed or has its invitee.', { codes: [InvitationFailure.closed, InvitationFailure.alreadyBound] }),
        401: accountRequired,
        403: refused('Not the invitee, or the address differs (then a confirmation mail went to the invited address: `verificationEmailSent`).', {
          extra: { verificationEmailSent: z.boolean().optional() },
        }),
        404: refused('There is no such invitation.'),
        409: tryAgain(InvitationFailure.notYetRecorded),
        503: unavailable,
      },
      examples: {
        verified: { summary: 'The account has the invited address', status: 200, path: { id: '12' }, answer: VERIFICATION_TOKEN },
        mailed: {
          summary: 'Another address, holding the link',
          status: 403,
          path: { id: '12' },
          answer: { reason: 'The signed-in account does not have the invited email address. A verification link was sent to the invited address.', verificationEmailSent: true },
        },
        notInvitee: {
          summary: 'Neither the address nor the link',
          status: 403,
          path: { id: '12' },
          credentials: { invitationLink: 'omitted' },
          answer: { reason: "Only the invitee may ask for this: sign in with the invited address, or send the invitation link's token in X-Invitation-Token." },
        },
      },
    },

    'PUT /repo/v1/membershipInvitation/:id/inviteeId': {
      summary: 'Bind the invitation to the signed-in account',
      description: 'With the InviteeVerificationSignedToken issued to this account. The invitee can then join the team.',
      security: [['account']],
      path: invitationPath,
      body: inviteeVerificationToken,
      answers: {
        200: ok('The invitation, bound.', membershipInvitation),
        400: refused('The request is not valid, the token is for another invitation, or the invitation has its invitee.', { codes: [InvitationFailure.alreadyBound] }),
        401: accountRequired,
        403: refused('The token is refused or was issued to another account, or the invitation is closed.', { problem: true, codes: [InvitationFailure.closed] }),
        404: refused('There is no such invitation.'),
        409: tryAgain(InvitationFailure.notYetRecorded),
        410: refused('The invitation closed meanwhile.', { codes: [InvitationFailure.closed] }),
        503: unavailable,
      },
      examples: {
        bound: { summary: 'Bind', status: 200, path: { id: '12' }, body: VERIFICATION_TOKEN, answer: { ...INVITATION, inviteeId: '8' } },
        otherAccount: { summary: 'A token issued to another account', status: 403, path: { id: '12' }, body: VERIFICATION_TOKEN, answer: { reason: 'The token was issued to another account.' } },
        tampered: { summary: 'A token with another hmac', status: 403, path: { id: '12' }, body: { ...VERIFICATION_TOKEN, hmac: 'A'.repeat(43) }, answer: { reason: 'The token signature is not valid.', problem: 'invalid' } },
      },
    },

    'POST /repo/v1/membershipInvitation/:id/resend': {
      summary: 'Mail an invitation again',
      description: `A team admin's resend for an invitee who lost the mail: a fresh link (or, to an account, a notice) mailed now; earlier links keep working. At most ${RESENDS_PER_DAY} a day per invitation, and each counts against the daily caps on invitation mails as the first mail does (per inviter, per team, per invitee address).`,
      security: [['account']],
      path: invitationPath,
      answers: {
        200: ok('The invitation as it stands now.', membershipInvitation),
        401: accountRequired,
        403: refused('Only a team admin may do this.'),
        404: refused('There is no such invitation.'),
        409: tryAgain(InvitationFailure.notYetRecorded),
        410: refused('The invitation was withdrawn, used or has expired.', { codes: [InvitationFailure.closed] }),
        429: refused(`Mailed ${RESENDS_PER_DAY} times today already, or a daily cap on invitation mails is reached.`, { codes: [InvitationFailure.resendLimitReached, InvitationFailure.limitReached], retryAfter: true }),
        503: unavailable,
      },
      examples: {
        resent: { summary: 'Mail it again', status: 200, path: { id: '12' }, answer: INVITATION },
        notAdmin: { summary: 'A member who is not an admin', status: 403, path: { id: '12' }, answer: { reason: 'Only a team admin may do this.' } },
        tooOften: {
          summary: `A ${RESENDS_PER_DAY + 1}th resend in a day`,
          status: 429,
          path: { id: '12' },
          answer: { reason: 'This invitation was sent again 3 times today; try again tomorrow.', code: 'limit_reached', retryAfterSeconds: 3600 },
        },
        withdrawn: { summary: 'A withdrawn invitation', status: 410, path: { id: '12' }, answer: { reason: 'This invitation was withdrawn by the team.', code: 'invitation_closed' } },
      },
    },

    'POST /repo/v1/notificationUnsubscribe': {
      summary: 'Stop invitation notices to an account',
      description:
        "What a client's own unsubscribe page (`notificationUnsubscribeEndpoint`) calls with the NotificationUnsubscribeSignedToken from a notice's link: no more invitation notices are mailed to that account; invitations to it still show on its teams page.",
      body: notificationUnsubscribeToken,
      answers: {
        204: ok('Unsubscribed (also when it already was).'),
        400: invalidRequest,
        403: tokenRefused('The token is tampered with, expired, or not an unsubscribe token.'),
        404: refused('The account no longer exists.'),
      },
      examples: {
        unsubscribed: { summary: "The notice's token", status: 204, body: UNSUBSCRIBE_TOKEN },
        tampered: { summary: 'A token with another hmac', status: 403, body: { ...UNSUBSCRIBE_TOKEN, hmac: 'A'.repeat(43) }, answer: { reason: 'The token signature is not valid.', problem: 'invalid' } },
      },
    },

    'DELETE /repo/v1/membershipInvitation/:id': {
      summary: 'Withdraw an invitation',
      description: 'A team admin or the invitee; withdrawing twice is not an error.',
      security: [['account']],
      path: invitationPath,
      answers: {
        204: ok('Withdrawn.'),
        401: accountRequired,
        403: refused('Only a team admin or the invitee may withdraw this invitation.'),
        404: refused('There is no such invitation.'),
        409: tryAgain(InvitationFailure.notYetRecorded),
        410: refused('The invitation was used or has expired.', { codes: [InvitationFailure.closed] }),
        503: unavailable,
      },
      examples: {
        withdrawn: { summary: 'Withdraw', status: 204, path: { id: '12' } },
        notAllowed: { summary: 'Somebody else', status: 403, path: { id: '12' }, answer: { reason: 'Only a team admin or the invitee may withdraw this invitation.' } },
        unknown: { summary: 'No such invitation', status: 404, path: { id: '999999999' }, answer: { reason: 'There is no such invitation.' } },
      },
    },

    'GET /repo/v1/team/:id/openInvitation': {
      summary: "A team's open invitations",
      security: [['account']],
      path: teamPath,
      answers: {
        200: ok('The open invitations.', z.strictObject({ totalNumberOfResults: z.number().int(), results: z.array(membershipInvitation) })),
        401: accountRequired,
        403: refused('Only a team admin may do this.'),
        404: refused('There is no such team.'),
      },
      examples: {
        open: { summary: 'The open invitations', status: 200, path: { id: '5' }, answer: { totalNumberOfResults: 1, results: [INVITATION] } },
        notAdmin: { summary: 'A member who is not an admin', status: 403, path: { id: '5' }, answer: { reason: 'Only a team admin may do this.' } },
      },
    },
  },
};
