// The API self-hosted Zulip servers call, as they see it (the bouncer's
// /api/v1/remotes/server/*): the schemas its routes validate with, what each
// answers with Zulip's error codes, examples.
import { z } from 'zod';
import { Answer, Contract, invalidRequest, ok, refused } from '../contract';
import { RemoteServerFailure } from '../../domain/billing';
import { billingRequest, realmUpload, serverRegistration } from './remotes';

const SERVER_UUID = '6cb4ea8e-5b44-4f45-9f26-2d0a0c9d2f51';
const SERVER_KEY = '3f1d0b3c9a7e4f2b8c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b';
const REALM = { uuid: 'f0a8c3d2-7b1e-4c5d-9e6f-a1b2c3d4e5f6', host: 'chat.example.com', name: 'Example Org' };

const realm = z.strictObject({ uuid: z.uuid(), host: z.string(), name: z.string() }).meta({ id: 'RemoteRealm' });

/** HTTP Basic auth with the server's UUID and key. */
const serverCredential = {
  401: refused('No (or unreadable) Basic auth (`UNAUTHORIZED`), an unknown server UUID, or a wrong key.', {
    codes: ['UNAUTHORIZED', RemoteServerFailure.unknownServer, RemoteServerFailure.wrongKey],
    challenge: { scheme: 'Basic', always: false },
  }),
} satisfies Record<number, Answer>;

export const billingContract: Contract = {
  tag: 'Self-hosted servers',
  description: "Zulip's bouncer endpoints for self-hosted servers: registration, realm upload, billing access URLs. Servers authenticate with HTTP Basic auth (UUID and key).",
  operations: {
    'POST /api/v1/remotes/server/register': {
      summary: 'Register a self-hosted server',
      description: 'Registers a new server, or updates hostname and contact email of a known one whose key matches. The credentials are in the body.',
      body: serverRegistration,
      answers: {
        200: ok('Registered (`created`) or updated.', z.strictObject({ result: z.literal('success'), created: z.boolean() })),
        400: invalidRequest,
        401: refused('A known server UUID with another key.', { codes: [RemoteServerFailure.wrongKey] }),
        403: refused('The server registration is deactivated.', { codes: [RemoteServerFailure.deactivated] }),
      },
      examples: {
        registered: {
          summary: 'A new server',
          status: 200,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: SERVER_KEY, hostname: 'chat.example.com', contact_email: 'admin@example.com' },
          answer: { result: 'success', created: true },
        },
        updated: {
          summary: 'The same server again, with a new contact',
          status: 200,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: SERVER_KEY, hostname: 'chat.example.com', contact_email: 'it@example.com' },
          answer: { result: 'success', created: false },
        },
        wrongKey: {
          summary: 'A known server with another key',
          status: 401,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: 'f'.repeat(64), hostname: 'chat.example.com', contact_email: 'admin@example.com' },
          answer: { reason: 'The key for this server is not correct.', code: 'INVALID_ZULIP_SERVER_KEY' },
        },
        badHostname: {
          summary: 'A host name that is a URL',
          status: 400,
          body: { zulip_org_id: SERVER_UUID, zulip_org_key: SERVER_KEY, hostname: 'https://chat.example.com/', contact_email: 'admin@example.com' },
          answer: { reason: 'hostname: must be a host name, optionally with a port.' },
        },
      },
    },

    'POST /api/v1/remotes/server/realms': {
      summary: "Upload the server's realms",
      description: 'Creates or updates the realms (organizations) and answers all realms of the server.',
      security: [['zulipServer']],
      body: realmUpload,
      answers: {
        200: ok('All realms of the server.', z.strictObject({ result: z.literal('success'), realms: z.array(realm) })),
        400: invalidRequest,
        ...serverCredential,
        403: refused('The server is deactivated, or a realm belongs to another server.', { codes: [RemoteServerFailure.deactivated, RemoteServerFailure.realmOfAnotherServer] }),
      },
      examples: {
        uploaded: { summary: 'One realm', status: 200, body: { realms: [REALM] }, answer: { result: 'success', realms: [REALM] } },
        noCredentials: {
          summary: 'Without Basic auth',
          status: 401,
          credentials: { zulipServer: 'omitted' },
          body: { realms: [REALM] },
          answer: { reason: 'Authenticate with HTTP Basic auth: user = zulip_org_id, password = zulip_org_key.', code: 'UNAUTHORIZED' },
        },
        unknownServer: {
          summary: 'A server that is not registered',
          status: 401,
          credentials: { zulipServer: 'wrong' },
          body: { realms: [REALM] },
          answer: { reason: `Zulip server ${SERVER_UUID} is not registered.`, code: 'INVALID_ZULIP_SERVER' },
        },
        anotherServersRealm: {
          summary: 'A realm of another server',
          status: 403,
          body: { realms: [REALM] },
          answer: { reason: `Organization ${REALM.uuid} is registered to another server.`, code: 'REMOTE_REALM_SERVER_MISMATCH_ERROR' },
        },
      },
    },

    'POST /api/v1/remotes/server/billing': {
      summary: 'A billing access URL for one of the server\'s users',
      description: 'A signed link to the billing portal for the user of a realm, valid `BILLING_ACCESS_TOKEN_TTL` (2 hours). `next_page` is where the login ends: `plans`, `billing`, `upgrade`, `sponsorship` or `deactivate`.',
      security: [['zulipServer']],
      body: billingRequest,
      answers: {
        200: ok('The access URL.', z.strictObject({ result: z.literal('success'), billing_access_url: z.url() })),
        400: invalidRequest,
        ...serverCredential,
        403: refused('The server is deactivated, or the realm is unknown or of another server.', {
          codes: [RemoteServerFailure.deactivated, RemoteServerFailure.missingRealm, RemoteServerFailure.realmOfAnotherServer],
        }),
      },
      examples: {
        accessUrl: {
          summary: "A realm's billing admin",
          status: 200,
          body: { user: { uuid: '0d7f3b1a-2c4e-4f6a-8b9c-1d2e3f4a5b6c', email: 'iago@example.com', full_name: 'Iago' }, realm: { uuid: REALM.uuid }, uri_scheme: 'https://', next_page: 'upgrade' },
          answer: {
            result: 'success',
            billing_access_url:
              'https://flowgate.example.com/remote-billing-login/eyJrIjoicmVhbG0iLCJzIjoiNmNiNGVhOGUtNWI0NC00ZjQ1LTlmMjYtMmQwYTBjOWQyZjUxIiwiaG1hYyI6Ik0yVFhHTlVMLU5TcXBHMy13RGloZllBZ2U0WGx4dVBfZXRYN3NlMVl1eFEifQ',
          },
        },
        unknownRealm: {
          summary: 'A realm the server never uploaded',
          status: 403,
          body: { user: { uuid: '0d7f3b1a-2c4e-4f6a-8b9c-1d2e3f4a5b6c', email: 'iago@example.com', full_name: 'Iago' }, realm: { uuid: '11111111-2222-4333-8444-555555555555' }, uri_scheme: 'https://' },
          answer: { reason: 'Organization 11111111-2222-4333-8444-555555555555 is not registered.', code: 'MISSING_REMOTE_REALM' },
        },
        badNextPage: {
          summary: 'A next_page that is not a portal page',
          status: 400,
          body: { user: { uuid: '0d7f3b1a-2c4e-4f6a-8b9c-1d2e3f4a5b6c', email: 'iago@example.com', full_name: 'Iago' }, realm: { uuid: REALM.uuid }, uri_scheme: 'https://', next_page: 'https://evil.example/' },
          answer: { reason: 'next_page: Invalid option: expected one of "plans"|"billing"|"upgrade"|"sponsorship"|"deactivate"' },
        },
      },
    },
  },
};
