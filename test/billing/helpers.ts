import crypto from 'node:crypto';
import { PageClient as BasePageClient } from '../support/pageClient';
export type { PageResponse } from '../support/pageClient';
import { startService, TestService } from '../support/service';

/**
 * The service, trusting X-Forwarded-For: the confirmation-mail limits count
 * per IP address, so each test client speaks from its own address instead of
 * every test sharing 127.0.0.1.
 */
export function startBillingService(env: Record<string, string> = {}): Promise<TestService> {
  process.env.TRUST_PROXY = '1';
  return startService(env);
}

/** A fresh private-range IP address for one test client. */
export function randomIp(): string {
  return `10.${crypto.randomInt(256)}.${crypto.randomInt(256)}.${crypto.randomInt(1, 255)}`;
}

/** A self-hosted server as the portal sees it: UUID, key, one realm. */
export interface DemoServer {
  uuid: string;
  key: string;
  realm: { uuid: string; host: string; name: string };
}

export function basicAuth(uuid: string, key: string): string {
  return 'Basic ' + Buffer.from(`${uuid}:${key}`).toString('base64');
}

/** A JSON request, as other clients of the remote API may send it. */
export async function api(baseUrl: string, path: string, body: unknown, auth?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: auth } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A request as Zulip's server sends it: form-encoded, nested objects as JSON strings, absent values left out. */
export async function zulipApi(baseUrl: string, path: string, fields: Record<string, unknown>, auth?: string, method = 'POST'): Promise<{ status: number; json: Record<string, unknown> }> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null) form.set(name, typeof value === 'string' ? value : JSON.stringify(value));
  }
  const res = await fetch(baseUrl + path, {
    method,
    headers: { ...(method === 'GET' ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' }), ...(auth ? { Authorization: auth } : {}) },
    body: method === 'GET' ? undefined : form.toString(),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Zulip's realm info (RealmDataForAnalytics), as its server sends it. */
export function realmInfo(realm: DemoServer['realm'], id = 2) {
  return {
    id,
    host: realm.host,
    url: `https://${realm.host}`,
    name: realm.name,
    org_type: 0,
    date_created: 1700000000.5,
    deactivated: false,
    is_system_bot_realm: false,
    authentication_methods: { Email: true },
    uuid: realm.uuid,
    uuid_owner_secret: 'zuliprealm_' + realm.uuid.replace(/-/g, ''),
  };
}

/** Zulip's analytics upload with no counts: what its server sends to register its realms. */
export function realmsUpload(realms: DemoServer['realm'][]) {
  return { realm_counts: [], installation_counts: [], realmauditlog_rows: [], realms: realms.map((r, i) => realmInfo(r, i + 2)), version: JSON.stringify('10.0'), api_feature_level: 300 };
}

/** Registers a new server and uploads its realm through the remote API, as a self-hosted Zulip server does. */
export async function registerDemoServer(baseUrl: string): Promise<DemoServer> {
  const server = {
    uuid: crypto.randomUUID(),
    key: crypto.randomBytes(32).toString('hex'),
    realm: { uuid: crypto.randomUUID(), host: `org-${crypto.randomBytes(3).toString('hex')}.chat.example.test`, name: 'Example Org' },
  };
  const reg = await zulipApi(baseUrl, '/api/v1/remotes/server/register', {
    zulip_org_id: server.uuid,
    zulip_org_key: server.key,
    hostname: 'chat.example.test',
    contact_email: 'admin@example.test',
  });
  if (reg.status !== 200) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.json)}`);
  const upload = await zulipApi(baseUrl, '/api/v1/remotes/server/analytics', realmsUpload([server.realm]), basicAuth(server.uuid, server.key));
  if (upload.status !== 200) throw new Error(`analytics: ${upload.status} ${JSON.stringify(upload.json)}`);
  return server;
}

/** The billing access URL the server asks for on behalf of one of its users. */
export async function billingAccessUrl(
  baseUrl: string,
  server: DemoServer,
  user: { uuid: string; email: string; full_name: string },
  nextPage?: string,
): Promise<string> {
  const res = await zulipApi(
    baseUrl,
    '/api/v1/remotes/server/billing',
    { user, realm: realmInfo(server.realm), uri_scheme: 'https://', next_page: nextPage },
    basicAuth(server.uuid, server.key),
  );
  if (res.status !== 200) throw new Error(`billing: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.billing_access_url as string;
}

export function newUser(email: string) {
  return { uuid: crypto.randomUUID(), email, full_name: 'Iago Zulip' };
}

/** A page client from its own IP address, so per-IP mail limits apply per test client. */
export class PageClient extends BasePageClient {
  constructor(baseUrl: string, headers: Record<string, string> = { 'X-Forwarded-For': randomIp() }) {
    super(baseUrl, headers);
  }
}
