// Plays a self-hosted server against a running flowgate:
//   npm run billing:link -- --email you@example.com [--name "Your Name"] [--next-page upgrade]
// Registers a demo server and realm on first use (credentials kept in
// DATA_DIR/billing-demo-server.json), then prints a billing access URL.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface DemoServer {
  uuid: string;
  key: string;
  realm: { uuid: string; host: string; name: string };
}

const USAGE = 'usage: npm run billing:link -- --email you@example.com [--name "Full Name"] [--next-page plans|billing|upgrade|sponsorship|deactivate] [--url http://localhost:3000]';

async function post(baseUrl: string, route: string, body: unknown, server?: DemoServer): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(baseUrl + route, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(server ? { Authorization: 'Basic ' + Buffer.from(`${server.uuid}:${server.key}`).toString('base64') } : {}),
      },
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error(`cannot reach flowgate at ${baseUrl}: start it with \`npm start\` or pass --url`);
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${route} answered ${res.status}: ${json.reason ?? JSON.stringify(json)}`);
  return json;
}

function loadOrCreateServer(file: string): DemoServer {
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as DemoServer;
  const server: DemoServer = {
    uuid: crypto.randomUUID(),
    key: crypto.randomBytes(32).toString('hex'),
    realm: { uuid: crypto.randomUUID(), host: 'demo.localhost', name: 'Demo organization' },
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(server, null, 2) + '\n', { mode: 0o600 });
  return server;
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

  await post(baseUrl, '/api/v1/remotes/server/register', {
    zulip_org_id: server.uuid,
    zulip_org_key: server.key,
    hostname: server.realm.host,
    contact_email: values.email,
  });
  await post(baseUrl, '/api/v1/remotes/server/realms', { realms: [server.realm] }, server);
  // The demo user's UUID is derived from the email, so the same person logs in again as the same billing user.
  const userUuid = uuidFrom(`${server.realm.uuid}/${values.email.toLowerCase()}`);
  const { billing_access_url } = await post(
    baseUrl,
    '/api/v1/remotes/server/billing',
    {
      user: { uuid: userUuid, email: values.email, full_name: values.name ?? values.email.split('@')[0] },
      realm: { uuid: server.realm.uuid },
      uri_scheme: 'http://',
      ...(values['next-page'] ? { next_page: values['next-page'] } : {}),
    },
    server,
  );
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
