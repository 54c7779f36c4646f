// Deployment settings an attacker profits from: weak secrets, a client-chosen
// IP address behind a proxy, one key shared with a third party, ports of the
// compose topology open beyond the host.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { loadConfig, ConfigError } from '../../src/config';
import { TokenSigner } from '../../src/shared/tokens';
import { startService, TestService } from '../support/service';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { PageClient } from '../support/pageClient';
import { billingAccessUrl, newUser, registerDemoServer } from '../billing/helpers';
import { PASSWORD } from '../invitations/helpers';
import { exposedBeyondLoopback, readComposeServices } from '../support/compose';

const strong = 'p'.repeat(40);

function configProblem(env: Record<string, string>): string | undefined {
  try {
    loadConfig({ NODE_ENV: 'production', TOKEN_SECRET: strong, PAYLOAD_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`, DATA_DIR: '/tmp/flowgate-config-test', ...env });
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.variable;
    throw err;
  }
}

describe('secrets', () => {
  it.each([
    ['ADMIN_TOKEN', '1'],
    ['ADMIN_TOKEN', 'short-admin-token'],
    ['TOKEN_SECRET_PREVIOUS', 'weak'],
    ['TOKEN_SECRET_PREVIOUS', `${strong},weak`],
    ['TRIAL_SERVICE_TOKEN', 'tiny'],
  ])('refuses %s=%s in production, naming the variable', (variable, value) => {
    expect(configProblem({ [variable]: value })).toBe(variable);
  });

  it('accepts secrets as long as TOKEN_SECRET must be', () => {
    expect(configProblem({ ADMIN_TOKEN: strong, TOKEN_SECRET_PREVIOUS: `${'q'.repeat(32)},${'r'.repeat(33)}`, TRIAL_SERVICE_TOKEN: strong })).toBeUndefined();
  });

  it('takes APP_NAME only as a plain product name, which also names the mail sender', () => {
    for (const name of ['Evil\r\nBcc: victim@evil.example', 'A <b@evil.example>', '<script>', '"Quoted"', 'x'.repeat(61)]) expect(configProblem({ APP_NAME: name })).toBe('APP_NAME');
    expect(loadConfig({ TOKEN_SECRET: strong, DATA_DIR: '/tmp/flowgate-config-test', APP_NAME: "Toucan Toco's" }).mailFrom).toBe("Toucan Toco's <no-reply@localhost>");
  });

  it('takes INVITEE_VERIFICATION_PHASE as 1 or 2', () => {
    expect(configProblem({ INVITEE_VERIFICATION_PHASE: '3' })).toBe('INVITEE_VERIFICATION_PHASE');
    expect(loadConfig({ TOKEN_SECRET: strong, DATA_DIR: '/tmp/flowgate-config-test' }).inviteeVerificationPhase).toBe(2);
  });

  it('takes TRUST_PROXY as a number of proxy hops', () => {
    expect(configProblem({ TRUST_PROXY: 'yes' })).toBe('TRUST_PROXY');
    expect(configProblem({ TRUST_PROXY: '-1' })).toBe('TRUST_PROXY');
    expect(loadConfig({ TOKEN_SECRET: strong, DATA_DIR: '/tmp/flowgate-config-test', TRUST_PROXY: '2' }).trustProxyHops).toBe(2);
  });
});

describe('behind a proxy', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ TRUST_PROXY: '1' });
  });
  afterAll(() => service?.stop());

  it('uses the address the trusted proxy saw, not one the client wrote into X-Forwarded-For', async () => {
    // The per-IP limit of billing confirmation mails (5 a day) shows which address counts.
    const server = await registerDemoServer(service.baseUrl);
    const realAddress = '203.0.113.77';
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const url = await billingAccessUrl(service.baseUrl, server, newUser(uniqueEmail('proxied')));
      const page = new PageClient(service.baseUrl, { 'X-Forwarded-For': `198.51.100.${i + 1}, ${realAddress}` });
      const form = await page.get(url.slice(service.baseUrl.length));
      statuses.push((await page.submit(form, { email: uniqueEmail('proxied') })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // Clients the proxy saw at different addresses are counted apart (another server: its own daily limit).
    const other = await registerDemoServer(service.baseUrl);
    for (let i = 0; i < 6; i++) {
      const url = await billingAccessUrl(service.baseUrl, other, newUser(uniqueEmail('proxied')));
      const page = new PageClient(service.baseUrl, { 'X-Forwarded-For': `${realAddress}, 203.0.113.${100 + i}` });
      const form = await page.get(url.slice(service.baseUrl.length));
      expect((await page.submit(form, { email: uniqueEmail('proxied') })).status).toBe(200);
    }
  });
});

describe('the trial embed token', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService();
  });
  afterAll(() => service?.stop());

  it('is a JWT the embedding party verifies with a published public key, not with the service secret', async () => {
    const email = uniqueEmail('embed');
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(service.baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })); // eslint-disable-line @typescript-eslint/no-explicit-any
    await post('/api/trial/register', { username: email });
    const token = new URL(linkIn(await waitForEmail(email, /Verify/), `${service.baseUrl}/trial/register?token=`)).searchParams.get('token');
    const created = await post('/api/trial/creation', { token, password: PASSWORD });
    expect(created.status).toBe(201);
    const login = await post('/api/trial/login', { username: email, password: PASSWORD });
    const embed = await post('/api/trial/embed-token', { username: email, appId: created.body.appId }, { authorization: `Bearer ${login.body.accessToken}` });
    expect(embed.status).toBe(200);

    const jwks = (await fetch(`${service.baseUrl}/.well-known/jwks.json`).then((r) => r.json())) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
    const { payload, protectedHeader } = await jwtVerify(embed.body.token, createRemoteJWKSet(new URL(`${service.baseUrl}/.well-known/jwks.json`)), { audience: 'trial-app-embed' });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({ app: created.body.appId });
    // Nothing the embedding party holds can sign the service's own tokens.
    expect(JSON.stringify(jwks)).not.toContain(process.env.TOKEN_SECRET!);
    expect(() => new TokenSigner(process.env.TOKEN_SECRET!).parseAndVerify('trial_embed', embed.body.token)).toThrow();
  });
});

describe('docker-compose.yml', () => {
  const services = readComposeServices();

  it('publishes every port on 127.0.0.1 only', () => {
    expect(exposedBeyondLoopback(services)).toEqual([]);
  });

  // Each of these skips every API check: workflow updates straight to Temporal, or every mailed token.
  it.each([
    ['Temporal gRPC', 'temporalio/server:'],
    ['the Temporal Web UI', 'temporalio/ui:'],
    ['the mail catcher', 'axllent/mailpit:'],
  ])('does not publish %s on any other interface', (_what, image) => {
    const found = Object.entries(services).filter(([, s]) => s.image?.startsWith(image));
    expect(found.map(([name]) => name)).toHaveLength(1);
    expect(exposedBeyondLoopback(Object.fromEntries(found))).toEqual([]);
  });

  it('counts every form compose publishes beyond loopback', () => {
    const loopback = ['127.0.0.1:7233:7233', '127.0.0.1:3000-3001:3000/tcp', { target: 8080, published: 8233, host_ip: '127.0.0.1' }];
    const open = ['7233:7233', '7233', 8025, '0.0.0.0:8233:8080', '[::]:8025:8025', '192.0.2.10:1025:1025/tcp', { target: 7233, published: 7233 }, { target: 8080, host_ip: '0.0.0.0' }];
    expect(exposedBeyondLoopback({ safe: { ports: loopback } })).toEqual([]);
    expect(exposedBeyondLoopback({ open: { ports: open } })).toHaveLength(open.length);
    expect(exposedBeyondLoopback({ host: { network_mode: 'host' } })).toEqual(["host uses the host's network"]);
  });
});
