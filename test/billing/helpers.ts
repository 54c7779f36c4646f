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

export async function api(baseUrl: string, path: string, body: unknown, auth?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: auth } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Registers a new server and one realm through the remote API, as a self-hosted server does. */
export async function registerDemoServer(baseUrl: string): Promise<DemoServer> {
  const server = {
    uuid: crypto.randomUUID(),
    key: crypto.randomBytes(32).toString('hex'),
    realm: { uuid: crypto.randomUUID(), host: `org-${crypto.randomBytes(3).toString('hex')}.chat.example.test`, name: 'Example Org' },
  };
  const reg = await api(baseUrl, '/api/v1/remotes/server/register', {
    zulip_org_id: server.uuid,
    zulip_org_key: server.key,
    hostname: 'chat.example.test',
    contact_email: 'admin@example.test',
  });
  if (reg.status !== 200) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.json)}`);
  const realms = await api(baseUrl, '/api/v1/remotes/server/realms', { realms: [server.realm] }, basicAuth(server.uuid, server.key));
  if (realms.status !== 200) throw new Error(`realms: ${realms.status} ${JSON.stringify(realms.json)}`);
  return server;
}

/** The billing access URL the server asks for on behalf of one of its users. */
export async function billingAccessUrl(
  baseUrl: string,
  server: DemoServer,
  user: { uuid: string; email: string; full_name: string },
  nextPage?: string,
): Promise<string> {
  const res = await api(
    baseUrl,
    '/api/v1/remotes/server/billing',
    { user, realm: { uuid: server.realm.uuid }, uri_scheme: 'https://', ...(nextPage ? { next_page: nextPage } : {}) },
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
