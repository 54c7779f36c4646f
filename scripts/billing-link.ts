// Plays a self-hosted Zulip server against a running flowgate, with the
// requests such a server sends (form-encoded, nested objects as JSON
// strings, HTTP Basic auth with zulip_org_id:zulip_org_key):
//   npm run billing:link -- --email you@example.com [--name "Your Name"] [--next-page upgrade]
// On first use it registers a demo server as `manage.py register_server`
// does (registration, then the analytics upload that carries its realm);
// credentials are kept in DATA_DIR/billing-demo-server.json. Then it asks
// for a billing access URL as the server's "Plan management" menu does:
// when the portal does not know the realm (MISSING_REMOTE_REALM) it uploads
// its realms and asks again.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface DemoServer {
  uuid: string;
  key: string;
  realm: { uuid: string; host: string; name: string };
  /** Set once `register_server` went through. */
  registered?: boolean;
}

const USAGE = 'usage: npm run billing:link -- --email you@example.com [--name "Full Name"] [--next-page plans|billing|upgrade|sponsorship|deactivate] [--url http://localhost:3000]';

type Answer = { status: number; json: Record<string, unknown> };

/** One call to the portal as Zulip's server makes it: fields form-encoded (objects as JSON strings, absent ones left out). */
async function call(baseUrl: string, method: 'GET' | 'POST', endpoint: string, fields: Record<string, unknown>, server?: DemoServer): Promise<Answer> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) if (value !== undefined && value !== null) form.set(name, typeof value === 'string' ? value : JSON.stringify(value));
  let res: Response;
  try {
    res = await fetch(`${baseUrl}/api/v1/remotes/${endpoint}`, {
      method,
      headers: {
        'User-Agent': 'ZulipServer/10.0',
        ...(method === 'POST' ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
        ...(server ? { Authorization: 'Basic ' + Buffer.from(`${server.uuid}:${server.key}`).toString('base64') } : {}),
      },
      body: method === 'POST' ? form.toString() : undefined,
    });
  } catch {
    throw new Error(`cannot reach flowgate at ${baseUrl}: start it with \`npm start\` or pass --url`);
  }
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

function expectSuccess(endpoint: string, answer: Answer): Record<string, unknown> {
  if (answer.status !== 200 || answer.json.result !== 'success') throw new Error(`${endpoint} answered ${answer.status}: ${answer.json.msg ?? JSON.stringify(answer.json)}`);
  return answer.json;
}

/** Zulip's RealmDataForAnalytics for the demo realm. */
function realmInfo(server: DemoServer) {
  const { realm } = server;
  return {
    id: 2,
    host: realm.host,
    url: `http://${realm.host}`,
    name: realm.name,
    org_type: 0,
    date_created: Math.floor(Date.now() / 1000),
    deactivated: false,
    is_system_bot_realm: false,
    authentication_methods: { Email: true },
    uuid: realm.uuid,
    uuid_owner_secret: `zuliprealm_${crypto.createHash('sha256').update(server.key + realm.uuid).digest('hex').slice(0, 32)}`,
  };
}

/** What Zulip's server uploads for its realms (no usage statistics): the status call first, then the upload. */
async function uploadRealms(baseUrl: string, server: DemoServer): Promise<void> {
  expectSuccess('server/analytics/status', await call(baseUrl, 'GET', 'server/analytics/status', {}, server));
  const upload = { realm_counts: [], installation_counts: [], realmauditlog_rows: [], realms: [realmInfo(server)], version: JSON.stringify('10.0'), api_feature_level: 300 };
  expectSuccess('server/analytics', await call(baseUrl, 'POST', 'server/analytics', upload, server));
}

/** `manage.py register_server`: the registration (credentials in the form, no Basic auth), then the realm upload. */
async function registerServer(baseUrl: string, server: DemoServer, contactEmail: string): Promise<void> {
  const fields = { zulip_org_id: server.uuid, zulip_org_key: server.key, hostname: server.realm.host, contact_email: contactEmail };
  expectSuccess('server/register', await call(baseUrl, 'POST', 'server/register', fields));
  await uploadRealms(baseUrl, server);
}

function loadOrCreateServer(file: string): DemoServer {
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as DemoServer;
  return {
    uuid: crypto.randomUUID(),
    key: crypto.randomBytes(32).toString('hex'),
    realm: { uuid: crypto.randomUUID(), host: 'demo.localhost', name: 'Demo organization' },
  };
}

function saveServer(file: string, server: DemoServer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(server, null, 2) + '\n', { mode: 0o600 });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      'next-page': { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values.email) {
    console.log(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const baseUrl = (values.url || process.env.PUBLIC_URL || 'http://localhost:3000').replace(/\/+$/, '');
  const file = path.resolve(process.env.DATA_DIR || '.data', 'billing-demo-server.json');
  const server = loadOrCreateServer(file);
  if (!server.registered) {
    await registerServer(baseUrl, server, values.email);
    saveServer(file, { ...server, registered: true });
  }

  // The demo user's UUID is derived from the email, so the same person logs in again as the same billing user.
  const user = { uuid: uuidFrom(`${server.realm.uuid}/${values.email.toLowerCase()}`), email: values.email, full_name: values.name ?? values.email.split('@')[0] };
  const request = { user, realm: realmInfo(server), uri_scheme: 'http://', next_page: values['next-page'] };
  let answer = await call(baseUrl, 'POST', 'server/billing', request, server);
  if (answer.json.code === 'INVALID_ZULIP_SERVER') {
    // The portal lost the registration (e.g. a fresh database): register again, as an admin would.
    await registerServer(baseUrl, server, values.email);
    answer = await call(baseUrl, 'POST', 'server/billing', request, server);
  }
  if (answer.json.code === 'MISSING_REMOTE_REALM') {
    await uploadRealms(baseUrl, server);
    answer = await call(baseUrl, 'POST', 'server/billing', request, server);
  }
  const { billing_access_url } = expectSuccess('server/billing', answer);
  console.log(`Billing access URL (valid for BILLING_ACCESS_TOKEN_TTL, default 2h):\n\n  ${billing_access_url}\n`);
  console.log(`Legacy server login at ${baseUrl}/serverlogin/ with\n  zulip_org_id  ${server.uuid}\n  zulip_org_key ${server.key}`);
}

function uuidFrom(seed: string): string {
  const h = crypto.createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

main().catch((err) => {
  console.error(String(err?.message ?? err));
  process.exit(1);
});
