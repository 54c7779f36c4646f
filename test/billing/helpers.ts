import crypto from 'node:crypto';
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

export interface PageResponse {
  status: number;
  text: string;
  location: string | null;
  h1: string;
}

/**
 * A minimal browser for server-rendered pages: keeps cookies, reads the CSRF
 * field from the last form it saw, follows nothing by itself.
 */
export class PageClient {
  private cookies = new Map<string, string>();
  private csrf = '';

  constructor(
    private readonly baseUrl: string,
    private readonly headers: Record<string, string> = { 'X-Forwarded-For': randomIp() },
  ) {}

  async get(url: string): Promise<PageResponse> {
    return this.request(url, { method: 'GET' });
  }

  async post(url: string, fields: Record<string, string>): Promise<PageResponse> {
    return this.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: this.csrf, ...fields }).toString(),
    });
  }

  /** Follows redirects within the service, as a browser would. */
  async follow(res: PageResponse): Promise<PageResponse> {
    let current = res;
    while (current.status >= 300 && current.status < 400 && current.location && this.isLocal(current.location)) current = await this.get(current.location);
    return current;
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  private isLocal(url: string): boolean {
    return url.startsWith('/') || url.startsWith(this.baseUrl);
  }

  private async request(url: string, init: RequestInit): Promise<PageResponse> {
    const full = url.startsWith('http') ? url : this.baseUrl + url;
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(full, {
      ...init,
      redirect: 'manual',
      headers: { ...this.headers, ...(init.headers as Record<string, string>), ...(cookie ? { Cookie: cookie } : {}) },
    });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const text = await res.text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(text);
    if (csrf) this.csrf = csrf[1];
    return { status: res.status, text, location: res.headers.get('location'), h1: /<h1>([^<]*)<\/h1>/.exec(text)?.[1] ?? '' };
  }
}
