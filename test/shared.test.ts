import crypto from 'node:crypto';
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { loadConfig } from '../src/config';
import { connectDb, createDeps, Deps } from '../src/deps';
import { errorHandler, HttpError, asPages } from '../src/api/http';
import { csrfField, form, html, render, renderError, requireCsrf } from '../src/api/pages';
import { failure, RecordedRefusals, Refusal, refusal, refused, unlessRefused } from '../src/shared/failures';
import { TokenSigner } from '../src/shared/tokens';
import { Mailer, messageIdFor } from '../src/shared/mail';
import type { Db } from '../src/shared/db';
import { hashPassword, needsRehash, signIn, verifyPassword } from '../src/shared/auth';
import { startService, TestService } from './support/service';
import { uniqueEmail, waitForEmails, emailsTo } from './support/mailbox';

/** Database and mailer, as the service wires them. */
let deps: Deps;
beforeAll(async () => {
  const config = loadConfig();
  deps = createDeps(config, await connectDb(config.databaseUrl!), config.smtpUrl!);
});
afterAll(async () => {
  deps.mailer.close();
  await deps.db.$disconnect();
});

describe('mail', () => {
  it('sends one logical email once, with a stable Message-ID, text and HTML parts', async () => {
    const to = uniqueEmail('mail');
    const email = { kind: 'test', key: `test/${to}`, to, subject: 'Hello <there>', paragraphs: ['Line & more'], action: { label: 'Open', url: 'http://localhost/x?a=1&b=2' } };
    const first = await deps.mailer.send(email);
    const second = await deps.mailer.send(email);
    expect(first.alreadySent).toBe(false);
    expect(second).toEqual({ messageId: first.messageId, alreadySent: true });
    const [received] = await waitForEmails(to, 'Hello <there>');
    expect(received.messageId).toBe(first.messageId.replace(/[<>]/g, ''));
    expect(received.text).toContain('http://localhost/x?a=1&b=2');
    expect(received.html).toContain('Hello &lt;there&gt;');
    expect(received.html).toContain('Line &amp; more');
    expect(await emailsTo(to)).toHaveLength(1);
    expect(await deps.mailer.countSentSince('test', to.toUpperCase(), new Date(Date.now() - 60_000))).toBe(1);
    expect(messageIdFor(email.key, 'http://localhost:1')).toBe(first.messageId);
  });

  it('records a sent mail even when the database is away for a moment after the SMTP server took it, so a retry does not send it again', async () => {
    const config = loadConfig();
    let refusals = 2;
    // The real database, but the first two ledger writes fail as they do while PostgreSQL restarts.
    const flaky = {
      sentEmail: {
        findUnique: (args: Parameters<Db['sentEmail']['findUnique']>[0]) => deps.db.sentEmail.findUnique(args),
        create: (args: Parameters<Db['sentEmail']['create']>[0]) =>
          refusals-- > 0 ? Promise.reject(new Error("Can't reach database server")) : deps.db.sentEmail.create(args),
      },
    } as unknown as Db;
    const mailer = new Mailer(config.smtpUrl!, config.mailFrom, config.publicUrl, flaky);
    try {
      const to = uniqueEmail('mail-ledger');
      const email = { kind: 'test', key: `test/${to}`, to, subject: 'Ledger', paragraphs: ['x'] };
      expect((await mailer.send(email)).alreadySent).toBe(false);
      expect(refusals).toBe(-1);
      // The retry an activity would make finds the row and sends nothing.
      expect((await mailer.send(email)).alreadySent).toBe(true);
      await waitForEmails(to, 'Ledger');
      expect(await emailsTo(to)).toHaveLength(1);
    } finally {
      mailer.close();
    }
  });
});

describe('passwords', () => {
  /** How earlier versions stored passwords: `scrypt$N$r$p$salt$hash`. */
  function legacyScryptHash(password: string): string {
    const salt = crypto.randomBytes(16);
    const hash = crypto.scryptSync(password, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    return ['scrypt', 1 << 15, 8, 1, salt.toString('base64url'), hash.toString('base64url')].join('$');
  }

  it('hashes with argon2id at 19 MiB, 2 passes, salted, and verifies only the right password', async () => {
    const [a, b] = await Promise.all([hashPassword('Right-pass-1'), hashPassword('Right-pass-1')]);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('Right-pass-1', a)).toBe(true);
    expect(await verifyPassword('Wrong-pass-1', a)).toBe(false);
    expect(await verifyPassword('Right-pass-1', 'not a hash')).toBe(false);
    expect(needsRehash(a)).toBe(false);
  });

  it('accepts a legacy scrypt hash and replaces it with argon2id on the next sign-in', async () => {
    const email = uniqueEmail('legacy');
    const legacy = legacyScryptHash('Legacy-pass-1');
    expect(needsRehash(legacy)).toBe(true);
    const account = await deps.db.account.create({ data: { email, username: email, passwordHash: legacy } });
    const client = `legacy-client-${email}`;
    const accountOf = async (password: string) => {
      const result = await signIn(deps.db, deps.signer, email, password, { client });
      return result.outcome === 'signed_in' ? result.accountId : undefined;
    };
    expect(await accountOf('Wrong-pass-1')).toBeUndefined();
    expect((await deps.db.account.findUniqueOrThrow({ where: { id: account.id } })).passwordHash).toBe(legacy);
    expect(await accountOf('Legacy-pass-1')).toBe(account.id);
    const upgraded = (await deps.db.account.findUniqueOrThrow({ where: { id: account.id } })).passwordHash;
    expect(upgraded).toMatch(/^\$argon2id\$/);
    expect(await accountOf('Legacy-pass-1')).toBe(account.id);
  });
});

describe('pages and CSRF', () => {
  const signer = new TokenSigner('pages-test-secret-0123456789abcdef0123');
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    const app = new Koa();
    app.use(errorHandler(renderError));
    app.use(bodyParser({ enableTypes: ['json', 'form'] }));
    const router = new Router();
    router.use(asPages);
    router.get('/form', (ctx) => render(ctx, { title: 'A form', body: form(csrfField(ctx, signer), '/form', html`<input name="who">`, 'Send') }));
    router.post('/form', requireCsrf(signer), (ctx) => render(ctx, { title: 'Thanks', body: html`<p>${String((ctx.request.body as Record<string, unknown>).who)}</p>` }));
    router.get('/gone', () => {
      throw new HttpError(410, 'This link has already been used.', {}, 'Link used');
    });
    app.use(router.routes());
    server = app.listen(0);
    base = `http://localhost:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function getForm() {
    const res = await fetch(`${base}/form`);
    const cookie = res.headers.get('set-cookie')!.split(';')[0];
    const field = /name="_csrf" value="([^"]+)"/.exec(await res.text())![1];
    return { res, cookie, field };
  }

  it('renders pages that do not leak their URL and run no script', async () => {
    const { res } = await getForm();
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-type')).toContain('text/html');
  });

  it('accepts a form post with the matching cookie and field, and escapes what it echoes', async () => {
    const { cookie, field } = await getForm();
    const res = await fetch(`${base}/form`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: field, who: '<script>x</script>' }),
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(body).not.toContain('<script>x');
  });

  it.each([
    ['no cookie', (f: { cookie: string; field: string }) => ({ headers: {}, field: f.field })],
    ['no field', (f: { cookie: string; field: string }) => ({ headers: { cookie: f.cookie }, field: undefined })],
    ['a field for another cookie', (f: { cookie: string; field: string }) => ({ headers: { cookie: 'fg_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, field: f.field })],
  ])('refuses a form post with %s, with a readable 403 page', async (_name, make) => {
    const f = await getForm();
    const { headers, field } = make(f);
    const res = await fetch(`${base}/form`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(field ? { _csrf: field, who: 'x' } : { who: 'x' }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('Form expired');
  });

  it('shows refused links as their own page, not as JSON or a stack trace', async () => {
    const res = await fetch(`${base}/gone`);
    expect(res.status).toBe(410);
    const body = await res.text();
    expect(body).toContain('<h1>Link used</h1>');
    expect(body).toContain('This link has already been used.');
    expect(body).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('API basics', () => {
  let service: TestService;
  beforeAll(async () => (service = await startService()));
  afterAll(() => service.stop());

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${service.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${service.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('answers unknown paths and malformed bodies with JSON 4xx', async () => {
    const missing = await fetch(`${service.baseUrl}/no/such/path`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ reason: 'Not found.' });
    const badJson = await fetch(`${service.baseUrl}/healthz`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' });
    expect(badJson.status).toBeGreaterThanOrEqual(400);
    expect(badJson.status).toBeLessThan(500);
    const huge = await fetch(`${service.baseUrl}/healthz`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x'.repeat(200_000) }) });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({ reason: 'Request body is too large.' });
  });
});

describe('readiness when a dependency is down', () => {
  it('answers 503 with the reason when Temporal is unreachable', async () => {
    const service = await startService();
    try {
      await service.temporal.connection.close();
      const res = await fetch(`${service.baseUrl}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable', reason: 'temporal unreachable' });
    } finally {
      await service.stop().catch(() => undefined);
    }
  });
});

describe('refusals as values', () => {
  const Table = { limitReached: failure('LimitReached', 429, 'limit_reached'), gone: failure('Gone', 409, 'gone') };
  const recorded: RecordedRefusals = { failedAs: { TooMany: Table.limitReached }, returned: ({ refused: message }) => refusal(Table.limitReached, message) };
  const failedStep = (type: string) => new ActivityFailure('failed', 'step', 'step-1', RetryState.NON_RETRYABLE_FAILURE, undefined, ApplicationFailure.create({ type, message: `${type} today`, nonRetryable: true }));

  it("raises an activity's refusal as its table's entry, and passes an answer through", async () => {
    await expect(unlessRefused(Promise.resolve(refused(Table.gone, 'It is gone.')), Table)).rejects.toMatchObject({ type: 'Gone', message: 'It is gone.', nonRetryable: true });
    expect(await unlessRefused(Promise.resolve({ id: 7 }), Table)).toEqual({ id: 7 });
    expect(await unlessRefused(Promise.resolve(undefined as void | Refusal), Table)).toBeUndefined();
  });

  it('reads what earlier runs recorded: a refusal as the step\'s failure, or a value of the step\'s own', async () => {
    await expect(unlessRefused(Promise.reject(failedStep('TooMany')), Table, recorded)).rejects.toMatchObject({ type: 'LimitReached', message: 'TooMany today' });
    await expect(unlessRefused(Promise.resolve({ refused: 'Too many today.' } as Refusal), Table, recorded)).rejects.toMatchObject({ type: 'LimitReached', message: 'Too many today.' });
    // A failure no table names is a fault: it stays what it was.
    const fault = failedStep('DatabaseDown');
    await expect(unlessRefused(Promise.reject(fault), Table, recorded)).rejects.toBe(fault);
  });
});
