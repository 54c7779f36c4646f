// The free trial's JSON API as its clients see it (Toucan's /api/trial/*):
// the schemas its routes validate with, what each answers, examples.
import { z } from 'zod';
import { Answer, Contract, describing, deviceCookieSet, invalidRequest, ok, Operation, refused, tryAgain, unavailable } from '../contract';
import type { issueEmbedToken, PublicTrialStatus, TrialInfos } from '../../domain/trial';
import { TrialFailure } from '../../workflows/trial/messages';
import { creationBody, loginBody, usernameBody } from './flow';
import { embedBody, extendBody, infosQuery, REGISTERED, registerBody, verifyBody } from './routes';

const TRIAL_STATUSES = ['pending_verification', 'active', 'expired', 'converted'] as const satisfies readonly PublicTrialStatus[];

const registered = z.strictObject({ status: z.literal('accepted'), message: z.string() }).meta({ id: 'TrialRegistration' });
const trialInfos = describing<TrialInfos>()(
  z
    .strictObject({
      username: z.string(),
      status: z.enum(TRIAL_STATUSES),
      trialEndsAt: z.iso.datetime().nullable(),
      daysLeft: z.number().int().min(0).nullable().meta({ description: 'Whole days left, rounded up; 0 once expired; null before the account exists and after conversion.' }),
      expired: z.boolean(),
    })
    .meta({ id: 'TrialInfos' }),
);
const embedToken = describing<Awaited<ReturnType<typeof issueEmbedToken>>>()(
  z.strictObject({
    token: z.string().meta({ description: 'A JWT (EdDSA) with sub = account id, app = app id, aud = trial-app-embed, iss = the public URL; verify it with /.well-known/jwks.json.' }),
    expiresAt: z.iso.datetime(),
  }),
);
const jwks = z
  .strictObject({
    keys: z.array(z.strictObject({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string(), kid: z.string(), alg: z.literal('EdDSA'), use: z.literal('sig') })).min(1),
  })
  .meta({ id: 'JsonWebKeySet' });

const EMAIL = 'ada@example.com';
const TOKEN = 'eyJ1IjoiYWRhQGV4YW1wbGUuY29tIiwibiI6InEzSjB4MXd6OFliMiIsImV4cCI6MTc3ODQ5MDAwMDAwMCwiaG1hYyI6InNDQ1E0dHBQYXRtRWJrdk4xVFR4eFZDd3ZwSHJ2dmlwNnFGRFF4bHo0UU0ifQ';
const TRIAL_ENDS_AT = '2026-05-18T09:00:00.000Z';

/** The service endpoints' credential: the same refusal whatever is asked about. */
const service = {
  401: refused('No `X-Service-Token` although the server has `TRIAL_SERVICE_TOKEN`.', { codes: ['service_credential_required'] }),
  403: refused('A wrong `X-Service-Token`, or none is configured outside development (`service_disabled`).', { codes: ['service_credential_invalid', 'service_disabled'] }),
} satisfies Record<number, Answer>;
const serviceExamples = {
  noServiceToken: { summary: 'Without X-Service-Token', status: 401, credentials: { trialService: 'omitted' }, answer: { reason: 'Service credential required: send X-Service-Token.', code: 'service_credential_required' } },
  wrongServiceToken: { summary: 'With a wrong X-Service-Token', status: 403, credentials: { trialService: 'wrong' }, answer: { reason: 'The service credential is not valid.', code: 'service_credential_invalid' } },
} as const;

/** The refusals of the operators' calls on a trial. */
const operatorRefusals = {
  400: invalidRequest,
  401: refused('No operator key.', { challenge: { scheme: 'Bearer', always: true } }),
  403: refused('A wrong operator key, or the server has no `ADMIN_TOKEN` (`operator_disabled`).', { codes: ['operator_disabled'] }),
  404: refused('No trial for this username.'),
  409: refused('The trial is not running or expired.', { codes: [TrialFailure.notRunning], extra: { status: z.enum(TRIAL_STATUSES).optional() } }),
  503: unavailable,
} satisfies Record<number, Answer>;
const deadToken = {
  404: refused('The token is unknown or forged.', { codes: ['unknown_token'] }),
  410: refused('The token expired, was replaced by a newer one, or was used.', { codes: [TrialFailure.tokenExpired, TrialFailure.tokenUsed] }),
} satisfies Record<number, Answer>;

const register: Operation = {
  summary: 'Register for a free trial',
  description:
    'Mails a verification link, or a "Welcome back" mail to an address that has an account; every address gets the same answer. Registering again re-sends the same link. ' +
    '`username` is the email address; `firstname`, `lastname` and `company` are optional (the app is named after the company).',
  body: registerBody,
  answers: {
    202: ok('Accepted, the same for every address.', registered),
    400: invalidRequest,
    429: refused('The address had 3 registration mails in the last hour.', { codes: [TrialFailure.throttled], retryAfter: true }),
    503: unavailable,
  },
  examples: {
    accepted: { summary: 'Register', status: 202, body: { username: EMAIL, firstname: 'Ada', lastname: 'Lovelace', company: 'Analytical Engines' }, answer: REGISTERED },
    notAnEmail: { summary: 'A username that is not an email address', status: 400, body: { username: 'ada' }, answer: { reason: 'username: must be an email address.' } },
    tooManyMails: {
      summary: 'A fourth registration within the hour',
      status: 429,
      body: { username: EMAIL },
      answer: { reason: 'At most 3 emails per address per hour: try again later.', code: 'too_many_mails', retryAfterSeconds: 3600 },
    },
  },
};

export const trialContract: Contract = {
  tag: 'Free trial',
  description:
    "Toucan's trial endpoints: registration, the auth service's calls (`verify`, `creation`, `infos`, `embed-token`, with `X-Service-Token` when `TRIAL_SERVICE_TOKEN` is set), the operators' calls (`extend`, `completion`) and the trial user's sign-in.",
  operations: {
    'POST /api/trial/register': register,
    'POST /api/legacy/trial/register': {
      ...register,
      summary: 'Register for a free trial (legacy path)',
      description: 'The same as `POST /api/trial/register`, at the path older clients call.',
      examples: { accepted: register.examples.accepted },
    },

    'POST /api/trial/verify': {
      summary: 'Check a verification token',
      description: 'The token from the verification link, while it is valid and unused: answers whose trial it is.',
      security: [['trialService']],
      body: verifyBody,
      answers: { 200: ok('The token is valid and unused.', z.strictObject({ username: z.string() })), 400: invalidRequest, ...service, ...deadToken, 503: unavailable },
      examples: {
        valid: { summary: 'A token from a verification mail', status: 200, body: { token: TOKEN }, answer: { username: EMAIL } },
        forged: { summary: 'A token nobody issued', status: 404, body: { token: 'not-a-token' }, answer: { reason: 'This link is not valid.', code: 'unknown_token' } },
        used: { summary: 'A token whose account was created', status: 410, body: { token: TOKEN }, answer: { reason: 'This link was already used to create the account.', code: 'token_used' } },
        ...serviceExamples,
      },
    },

    'POST /api/trial/creation': {
      summary: 'Create the trial account',
      description:
        'With the verification token and a password (8+ characters with a letter, a digit and a symbol): creates the account (username = the email address) and its app, and starts the trial. Once per token.',
      security: [['trialService']],
      body: creationBody,
      answers: {
        201: ok('The account, its app and the trial end.', z.strictObject({ username: z.string(), appId: z.number().int().positive(), trialEndsAt: z.iso.datetime() })),
        400: invalidRequest,
        ...service,
        ...deadToken,
        409: refused('An account with this address exists already.', { codes: [TrialFailure.accountExists] }),
        503: unavailable,
      },
      examples: {
        created: { summary: 'Create the account', status: 201, body: { token: TOKEN, password: 'Analytical-1843', firstname: 'Ada', lastname: 'Lovelace' }, answer: { username: EMAIL, appId: 3, trialEndsAt: TRIAL_ENDS_AT } },
        weakPassword: { summary: 'A password too weak', status: 400, body: { token: TOKEN, password: 'ada' }, answer: { reason: 'password: Password must be at least 8 characters.' } },
        again: { summary: 'The same token again', status: 410, body: { token: TOKEN, password: 'Analytical-1843' }, answer: { reason: 'This link was already used to create the account.', code: 'token_used' } },
      },
    },

    'GET /api/trial/infos': {
      summary: "A trial's status",
      description: '`status` is `pending_verification`, `active`, `expired` or `converted`; a trial whose end has passed reads as expired even before the flow records it.',
      security: [['trialService']],
      query: infosQuery,
      answers: { 200: ok('The trial.', trialInfos), 400: invalidRequest, ...service, 404: refused('No trial for this username (or it ended unverified).') },
      examples: {
        running: { summary: 'A running trial', status: 200, query: { username: EMAIL }, answer: { username: EMAIL, status: 'active', trialEndsAt: TRIAL_ENDS_AT, daysLeft: 14, expired: false } },
        unknown: { summary: 'An address without a trial', status: 404, query: { username: 'nobody@example.com' }, answer: { reason: 'No trial for this username.' } },
      },
    },

    'POST /api/trial/extend': {
      summary: 'Extend a trial (operator)',
      description: 'Adds `days` (1 to 365) to the end, or to now when the trial has expired, which revives it.',
      security: [['operator']],
      body: extendBody,
      answers: {
        200: ok('The new end.', z.strictObject({ username: z.string(), status: z.literal('active'), trialEndsAt: z.iso.datetime() })),
        ...operatorRefusals,
      },
      examples: {
        extended: { summary: 'Seven more days', status: 200, body: { username: EMAIL, days: 7 }, answer: { username: EMAIL, status: 'active', trialEndsAt: '2026-05-25T09:00:00.000Z' } },
        converted: { summary: 'A converted trial', status: 409, body: { username: EMAIL, days: 7 }, answer: { reason: 'The trial is converted and can no longer change.', code: 'trial_not_running', status: 'converted' } },
        noKey: { summary: 'Without the operator key', status: 401, credentials: { operator: 'omitted' }, body: { username: EMAIL, days: 7 }, answer: { reason: 'Operator key required: send Authorization: Bearer <ADMIN_TOKEN>.' } },
        wrongKey: { summary: 'With a wrong operator key', status: 403, credentials: { operator: 'wrong' }, body: { username: EMAIL, days: 7 }, answer: { reason: 'The operator key is not valid.' } },
      },
    },

    'POST /api/trial/completion': {
      summary: 'Convert a trial to a paid account (operator)',
      description: 'Ends the trial without expiry. Repeating it is harmless.',
      security: [['operator']],
      body: usernameBody,
      answers: {
        200: ok('Converted.', z.strictObject({ username: z.string(), status: z.literal('converted') })),
        ...operatorRefusals,
      },
      examples: {
        converted: { summary: 'Convert', status: 200, body: { username: EMAIL }, answer: { username: EMAIL, status: 'converted' } },
        notStarted: { summary: 'A trial still waiting for verification', status: 409, body: { username: EMAIL }, answer: { reason: 'The trial is pending verification.', code: 'trial_not_running' } },
        unknown: { summary: 'An address without a trial', status: 404, body: { username: 'nobody@example.com' }, answer: { reason: 'No trial for this username.' } },
      },
    },

    'POST /api/trial/login': {
      summary: 'Sign in as the trial user',
      description:
        'Checks the credentials only; whether the trial has expired is checked where the app is opened. Backs off as `POST /auth/v1/login` does, and sets the same device cookie.',
      body: loginBody,
      answers: {
        200: ok('An access token for `Authorization: Bearer`.', z.strictObject({ accessToken: z.string(), tokenType: z.literal('Bearer') }), deviceCookieSet),
        400: invalidRequest,
        401: refused('Wrong username or password (the same answer for an unknown username).'),
        429: refused('Repeated failures: sign-in backs off.', { retryAfter: true }),
      },
      examples: {
        signedIn: { summary: 'Sign in', status: 200, body: { username: EMAIL, password: 'Analytical-1843' }, answer: { accessToken: 'eyJzdWIiOjcsImdlbiI6MCwiZXhwIjoxNzc3OTI4NDAwMDAwLCJobWFjIjoiQnhvR09uTzZSQmoyOUZRMFRNa2s1UGVuXy1pQ1pmal9VNWtpajhMQnEtNCJ9', tokenType: 'Bearer' } },
        wrongPassword: { summary: 'A wrong password', status: 401, body: { username: EMAIL, password: 'not-the-password' }, answer: { reason: 'Wrong username or password.' } },
        backingOff: { summary: 'The sixth failure in a row', status: 429, body: { username: EMAIL, password: 'not-the-password' }, answer: { reason: 'Too many failed sign-ins: try again in 30 seconds.', retryAfterSeconds: 30 } },
      },
    },

    'POST /api/trial/embed-token': {
      summary: "A short-lived token that embeds the user's app",
      description: 'For the signed-in trial user (their access token) and their app, while the trial runs. Lives `EMBED_TOKEN_TTL` (5 minutes).',
      security: [['trialService', 'account']],
      body: embedBody,
      answers: {
        200: ok('The embed token.', embedToken),
        400: invalidRequest,
        401: refused('No `X-Service-Token` (`service_credential_required`), or no valid access token.', { codes: ['service_credential_required'], challenge: { scheme: 'Bearer', always: false } }),
        403: refused('The credential is refused, the username is not the access token\'s, or the trial has expired.', { codes: ['service_credential_invalid', 'service_disabled', TrialFailure.notYours, TrialFailure.trialExpired] }),
        404: refused('Not an app of this user.', { codes: [TrialFailure.unknownApp] }),
      },
      examples: {
        issued: {
          summary: 'Embed the app',
          status: 200,
          body: { username: EMAIL, appId: 3 },
          answer: {
            token:
              'eyJhbGciOiJFZERTQSIsImtpZCI6IjV0N0VKamFaaHpBektYQ1YiLCJ0eXAiOiJKV1QifQ.eyJhcHAiOjMsInN1YiI6IjciLCJhdWQiOiJ0cmlhbC1hcHAtZW1iZWQiLCJpc3MiOiJodHRwczovL2Zsb3dnYXRlLmV4YW1wbGUuY29tIiwiaWF0IjoxNzc3ODg1MjAwLCJleHAiOjE3Nzc4ODU1MDB9.70eTxDe_RI_LGm62mL1xma9sbNMHfrK-RHnReGz4XeyXOujXJsig0DUhsaUGofbzX0b3Bbdc7OAUO96dDahSBQ',
            expiresAt: '2026-05-04T09:05:00.000Z',
          },
        },
        notYours: { summary: "Another user's name", status: 403, body: { username: 'grace@example.com', appId: 3 }, answer: { reason: 'The access token belongs to another user.', code: 'not_yours' } },
        unknownApp: { summary: 'An app of someone else', status: 404, body: { username: EMAIL, appId: 4 }, answer: { reason: 'No such app for this user.', code: 'unknown_app' } },
        noAccessToken: { summary: 'Without an access token', status: 401, credentials: { account: 'omitted' }, body: { username: EMAIL, appId: 3 }, answer: { reason: 'Authentication required: send Authorization: Bearer <accessToken>.' } },
      },
    },

    'GET /.well-known/jwks.json': {
      summary: 'The public keys that verify embed tokens',
      description: 'A JWK Set (Ed25519); after a secret rotation it also lists the keys of the previous secrets, by `kid`.',
      answers: {
        200: ok('The keys.', jwks, z.object({ 'Cache-Control': z.string().meta({ example: 'public, max-age=300' }) })),
      },
      examples: {
        keys: { summary: 'The key set', status: 200, answer: { keys: [{ crv: 'Ed25519', x: 'MuVSOM07ArmZ-SvtBAKgOM2N2JK4xQCTEc2S348Nl7k', kty: 'OKP', kid: '5t7EJjaZhzAzKXCV', alg: 'EdDSA', use: 'sig' }] } },
      },
    },
  },
};

