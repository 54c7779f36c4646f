// Hostile input at every route the app registers: whatever a route is, these
// requests must be refused with a clear 4xx (never a 5xx or a stack trace) and
// must change nothing in the database.
import type Router from '@koa/router';
import { createApp } from '../../src/api/app';
import { TokenSigner } from '../../src/shared/tokens';
import { startService, TestService } from '../support/service';
import { createIsolatedEnvironment, tableCounts } from '../support/isolatedDb';

interface Route {
  method: string;
  path: string;
}

function routesOf(service: TestService): Route[] {
  const app = createApp({ ...service.deps, temporal: service.temporal });
  const routes: Route[] = [];
  for (const mw of app.middleware as Array<{ router?: Router }>) {
    for (const layer of mw.router?.stack ?? []) {
      if (typeof layer.path !== 'string') continue;
      for (const method of layer.methods) if (method !== 'HEAD' && method !== 'OPTIONS') routes.push({ method, path: layer.path });
    }
  }
  return routes;
}

const forgedToken = TokenSigner.serialize({ id: '1', membershipInvitationId: '1', expiresOn: '2999-01-01T00:00:00.000Z', hmac: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
const otherSecretToken = TokenSigner.serialize(new TokenSigner('attacker-secret-0123456789abcdef0123456').sign('access', { sub: 1, exp: Date.now() + 3600_000 }));

const PARAM_VALUES = [
  '0', '-1', '99999999999999999999', 'abc', '%00', '..%2F..%2Fetc%2Fpasswd', encodeURIComponent('<script>alert(1)</script>'),
  'x'.repeat(600), forgedToken, encodeURIComponent("' OR 1=1 --"), '%E2%80%AE', '00000000-0000-0000-0000-000000000000', '%F0%9F%98%80', '1.5e3', '%25',
];

const BODIES: Array<{ type: string; body: string }> = [
  { type: 'application/json', body: '{}' },
  { type: 'application/json', body: '[]' },
  { type: 'application/json', body: 'null' },
  { type: 'application/json', body: '"a string"' },
  { type: 'application/json', body: '{"a":' },
  { type: 'application/json', body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}' },
  { type: 'application/json', body: JSON.stringify({ token: forgedToken, hmac: 'x', email: 'ＡＤＭＩＮ@ＥＸＡＭＰＬＥ.ＣＯＭ', username: 'a'.repeat(10_000) }) },
  { type: 'application/json', body: JSON.stringify({ nested: JSON.parse('['.repeat(500) + ']'.repeat(500)) }) },
  { type: 'application/json', body: JSON.stringify({ big: 'x'.repeat(70_000) }) },
  { type: 'application/x-www-form-urlencoded', body: 'a=1&a=2&_csrf=forged&email[]=x&next_page=https%3A%2F%2Fevil.example' },
  { type: 'text/plain', body: 'hello' },
  { type: 'application/xml', body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>' },
  { type: 'application/json; charset=utf-16', body: '{}' },
];

const HEADERS: Array<Record<string, string>> = [
  {},
  { authorization: `Bearer ${forgedToken}` },
  { authorization: `Bearer ${otherSecretToken}` },
  { authorization: 'Basic ' + Buffer.from('00000000-0000-0000-0000-000000000000:' + 'k'.repeat(64)).toString('base64') },
  { authorization: 'Basic !!!notbase64' },
  { cookie: `fg_csrf=${'A'.repeat(32)}; session=${forgedToken}; fg_session=${forgedToken}; fg_billing_session=${forgedToken}` },
];

const QUERIES = ['', '?next_page=https://evil.example/', '?portalEndpoint=javascript:alert(1)&acceptInvitationEndpoint=//evil.example', '?username=%00&teamId=-1', '?' + 'q=' + 'x'.repeat(3000)];

function fill(path: string, value: string): string {
  return path.replace(/:[A-Za-z0-9_]+/g, value);
}

describe('hostile input at every route', () => {
  let service: TestService;
  let databaseUrl: string;

  beforeAll(async () => {
    const isolated = await createIsolatedEnvironment('attack_routes');
    databaseUrl = isolated.DATABASE_URL;
    service = await startService(isolated);
  });
  afterAll(() => service?.stop());

  it('never answers 5xx, never leaks a stack trace, and changes nothing', async () => {
    const routes = routesOf(service);
    expect(routes.length).toBeGreaterThan(2);
    const before = await tableCounts(databaseUrl);
    const failures: string[] = [];
    let sent = 0;

    const send = async (method: string, url: string, headers: Record<string, string>, body?: { type: string; body: string }) => {
      const res = await fetch(`${service.baseUrl}${url}`, {
        method,
        redirect: 'manual',
        headers: { ...headers, ...(body ? { 'content-type': body.type } : {}) },
        body: body?.body,
      });
      const text = await res.text();
      sent++;
      const where = `${method} ${url.slice(0, 120)} [${Object.keys(headers).join(',')}] ${body ? body.type + ' ' + body.body.slice(0, 40) : ''}`;
      if (res.status >= 500) failures.push(`${res.status} ${where}: ${text.slice(0, 200)}`);
      if (/\bat [\w.<>]+ \(.*\.(ts|js):\d+:\d+\)/.test(text) || /PrismaClient|ECONNREFUSED|TypeError|ReferenceError/.test(text)) failures.push(`leak ${where}: ${text.slice(0, 200)}`);
      const location = res.headers.get('location');
      if (location && /^(https?:)?\/\//.test(location) && !location.startsWith(service.baseUrl)) failures.push(`off-site redirect to ${location} from ${where}`);
      if (method !== 'GET' && res.status >= 200 && res.status < 300) failures.push(`accepted ${res.status} ${where}: ${text.slice(0, 200)}`);
    };

    for (const route of routes) {
      const paths = route.path.includes(':') ? PARAM_VALUES.map((v) => fill(route.path, v)) : [route.path];
      const jobs: Promise<void>[] = [];
      for (const [i, path] of paths.entries()) {
        for (const query of QUERIES) {
          const headers = HEADERS[(i + query.length) % HEADERS.length];
          if (route.method === 'GET') jobs.push(send('GET', path + query, headers));
          else for (const body of BODIES.slice(0, query ? 2 : BODIES.length)) jobs.push(send(route.method, path + query, headers, body));
        }
      }
      for (const headers of HEADERS) {
        if (route.method === 'GET') jobs.push(send('GET', fill(route.path, '1'), headers));
        else jobs.push(send(route.method, fill(route.path, '1'), headers, BODIES[0]));
      }
      await Promise.all(jobs);
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(1000);
    expect(await tableCounts(databaseUrl)).toEqual(before);
  }, 300_000);
});
