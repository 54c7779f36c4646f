// The API self-hosted Zulip servers call, as they see it (the bouncer's
// /api/v1/remotes/server/*): the schemas its routes validate with, Zulip's
// answers and error codes, examples. Bodies travel as Zulip's server sends
// them: form fields, nested objects as JSON text in a field.
import { z } from 'zod';
import { Answer, Contract } from '../contract';
import { analyticsUpload, billingRequest, serverRegistration } from './routes';
import { BillingFailure } from '../../workflows/billing/messages';

const SERVER_UUID = '6cb4ea8e-5b44-4f45-9f26-2d0a0c9d2f51';
const SERVER_KEY = '3f1d0b3c9a7e4f2b8c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b';
const REALM = { uuid: 'f0a8c3d2-7b1e-4c5d-9e6f-a1b2c3d4e5f6', host: 'chat.example.com', name: 'Example Org' };
const USER = { uuid: '0d7f3b1a-2c4e-4f6a-8b9c-1d2e3f4a5b6c', email: 'iago@example.com', full_name: 'Iago' };

const msg = z.string().meta({ description: 'What went wrong, in a sentence for a person.' });

/** Zulip's success answer: `{"result": "success", "msg": "", ...}`. */
function success(description: string, fields: z.ZodRawShape = {}): Answer {
  return { description, body: z.strictObject({ result: z.literal('success'), msg: z.literal(''), ...fields }) };
}

/** Zulip's error answer, `{"result": "error", "msg", "code"}`: Zulip's client acts on the code (MISSING_REMOTE_REALM: upload the realms, then ask again). */
function zulipError(description: string, codes: string[], challenge = false): Answer {
  return {
    description,
    body: z.strictObject({ result: z.literal('error'), msg, code: z.enum(codes as [string, ...string[]]).meta({ description: "Zulip's error code." }) }),
    ...(challenge ? { headers: z.object({ 'WWW-Authenticate': z.string().regex(/^Basic\b/).meta({ example: 'Basic realm="zulip"' }) }) } : {}),
  };
}

const badRequest = zulipError('The request is not valid; the message names the field.', ['BAD_REQUEST']);

/** HTTP Basic auth with the server's UUID and key, refused as Zulip refuses it. */
const serverCredential = {
  401: zulipError('No (or unreadable) Basic auth (`UNAUTHORIZED`), an unknown server UUID or a wrong key (`INVALID_ZULIP_SERVER`), a deactivated registration.', [
    'UNAUTHORIZED',
    BillingFailure.unknownServer.code,
    BillingFailure.serverDeactivated.code,
  ], true),
} satisfies Record<number, Answer>;

const NO_CREDENTIALS = { reason: 'Missing authorization header for basic auth', code: 'UNAUTHORIZED' };

export const billingContract: Contract = {
  tag: 'Self-hosted servers',
  description:
    "Zulip's bouncer endpoints for self-hosted servers: registration, the analytics upload that carries the server's realms, billing access URLs. " +
    'Bodies are form-encoded as Zulip sends them (objects and lists as JSON text in a field); JSON bodies are accepted too. Servers authenticate with HTTP Basic auth (UUID and key). ' +
    'Answers are Zulip\'s: `{"result": "success", "msg": "", ...}` and `{"result": "error", "msg": "...", "code": "..."}`.',
  operations: {
    'POST /api/v1/remotes/server/register': {
      summary: 'Register a self-hosted server',
      description: 'Registers a new server, or updates hostname and contact email of a known one whose key matches; `new_org_key` replaces the key (`manage.py register_server --rotate-key`). The credentials are in the body.',
      form: true,
      body: serverRegistration,
      answers: {
        200: success('Registered (`created`) or updated.', { created: z.boolean() }),
        400: zulipError('The request is not valid, or a known server UUID came with another key (`INVALID_ZULIP_SERVER`).', ['BAD_REQUEST', BillingFailure.registrationKeyMismatch.code]),
        401: zulipError('The server registration is deactivated.', [BillingFailure.serverDeactivated.code]),
      },
      examples: {
        registered: {
          summary: 'A new server',
          status: 200,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: SERVER_KEY, hostname: 'chat.example.com', contact_email: 'admin@example.com' },
          answer: { result: 'success', msg: '', created: true },
        },
        updated: {
          summary: 'The same server again, with a new contact',
          status: 200,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: SERVER_KEY, hostname: 'chat.example.com', contact_email: 'it@example.com' },
          answer: { result: 'success', msg: '', created: false },
        },
        wrongKey: {
          summary: 'A known server with another key',
          status: 400,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: 'f'.repeat(64), hostname: 'chat.example.com', contact_email: 'admin@example.com' },
          answer: { result: 'error', msg: `Zulip server auth failure: key does not match role ${SERVER_UUID}`, code: 'INVALID_ZULIP_SERVER' },
        },
        badHostname: {
          summary: 'A host name that is a URL',
          status: 400,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: SERVER_KEY, hostname: 'https://chat.example.com/', contact_email: 'admin@example.com' },
          answer: { result: 'error', msg: 'hostname: must be a host name, optionally with a port.', code: 'BAD_REQUEST' },
        },
      },
    },

    'GET /api/v1/remotes/server/analytics/status': {
      summary: 'Where the next analytics upload starts',
      description: 'The highest row ids of each kind the server has uploaded, so its next upload sends only newer rows.',
      security: [['zulipServer']],
      answers: {
        200: success('The last uploaded ids.', { last_realm_count_id: z.number().int(), last_installation_count_id: z.number().int(), last_realmauditlog_id: z.number().int() }),
        ...serverCredential,
      },
      examples: {
        status: { summary: 'After one upload', status: 200, answer: { result: 'success', msg: '', last_realm_count_id: 7, last_installation_count_id: 3, last_realmauditlog_id: 12 } },
        noCredentials: { summary: 'Without Basic auth', status: 401, credentials: { zulipServer: 'omitted' }, answer: { result: 'error', msg: NO_CREDENTIALS.reason, code: NO_CREDENTIALS.code } },
      },
    },

    'POST /api/v1/remotes/server/analytics': {
      summary: "Upload the server's analytics and realms",
      description:
        "Zulip's analytics upload, which it also sends after `MISSING_REMOTE_REALM`: `realms` (Zulip's RealmDataForAnalytics) are created or updated; of the counts only the highest ids are kept. " +
        'Answers every realm of the server; this portal relays no push notifications (`can_push` is false).',
      security: [['zulipServer']],
      form: true,
      body: analyticsUpload,
      answers: {
        200: success('Every realm of the server.', {
          realms: z.record(z.uuid(), z.strictObject({ can_push: z.boolean(), expected_end_timestamp: z.number().int().nullable() })),
        }),
        400: zulipError('The request is not valid, or a realm is registered to another server.', ['BAD_REQUEST']),
        ...serverCredential,
      },
      examples: {
        uploaded: {
          summary: 'One realm and a few counts',
          status: 200,
          body: { realm_counts: [{ id: 7, property: 'active_users_audit:is_bot:day', value: 3 }], installation_counts: [], realmauditlog_rows: [], realms: [REALM] },
          answer: { result: 'success', msg: '', realms: { [REALM.uuid]: { can_push: false, expected_end_timestamp: null } } },
        },
        noCredentials: {
          summary: 'Without Basic auth',
          status: 401,
          credentials: { zulipServer: 'omitted' },
          body: { realms: [REALM] },
          answer: { result: 'error', msg: NO_CREDENTIALS.reason, code: NO_CREDENTIALS.code },
        },
        unknownServer: {
          summary: 'A server that is not registered',
          status: 401,
          credentials: { zulipServer: 'wrong' },
          body: { realms: [REALM] },
          answer: { result: 'error', msg: `Zulip server auth failure: ${SERVER_UUID} is not registered -- did you run \`manage.py register_server\`?`, code: 'INVALID_ZULIP_SERVER' },
        },
        anotherServersRealm: {
          summary: 'A realm of another server',
          status: 400,
          body: { realms: [REALM] },
          answer: { result: 'error', msg: `Duplicate registration detected.`, code: 'BAD_REQUEST' },
        },
      },
    },

    'POST /api/v1/remotes/server/billing': {
      summary: "A billing access URL for one of the server's users",
      description:
        'A signed link to the billing portal for the user of a realm, valid `BILLING_ACCESS_TOKEN_TTL` (2 hours). `next_page` is where the login ends: `plans`, `billing`, `upgrade`, `sponsorship` or `deactivate`; without it, the billing page for a customer with a plan and the plans page otherwise.',
      security: [['zulipServer']],
      form: true,
      body: billingRequest,
      answers: {
        200: success('The access URL.', { billing_access_url: z.url() }),
        400: badRequest,
        ...serverCredential,
        403: zulipError('The realm is unknown (`MISSING_REMOTE_REALM`: upload the realms, then ask again) or registered to another server.', [
          BillingFailure.missingRealm.code,
          BillingFailure.realmOfAnotherServer.code,
        ]),
      },
      examples: {
        accessUrl: {
          summary: "A realm's billing admin",
          status: 200,
          body: { user: USER, realm: { uuid: REALM.uuid }, uri_scheme: 'https://', next_page: 'upgrade' },
          answer: {
            result: 'success',
            msg: '',
            billing_access_url:
              'https://flowgate.example.com/remote-billing-login/eyJrIjoicmVhbG0iLCJzIjoiNmNiNGVhOGUtNWI0NC00ZjQ1LTlmMjYtMmQwYTBjOWQyZjUxIiwiaG1hYyI6Ik0yVFhHTlVMLU5TcXBHMy13RGloZllBZ2U0WGx4dVBfZXRYN3NlMVl1eFEifQ',
          },
        },
        unknownRealm: {
          summary: 'A realm the server never uploaded',
          status: 403,
          body: { user: USER, realm: { uuid: '11111111-2222-4333-8444-555555555555' }, uri_scheme: 'https://' },
          answer: { result: 'error', msg: 'Organization not registered', code: 'MISSING_REMOTE_REALM' },
        },
        badNextPage: {
          summary: 'A next_page that is not a portal page',
          status: 400,
          body: { user: USER, realm: { uuid: REALM.uuid }, uri_scheme: 'https://', next_page: 'https://evil.example/' },
          answer: { result: 'error', msg: 'next_page: Invalid option: expected one of "plans"|"billing"|"upgrade"|"sponsorship"|"deactivate"', code: 'BAD_REQUEST' },
        },
      },
    },
  },
};
