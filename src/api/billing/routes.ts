// The API self-hosted Zulip servers call (the push-notification bouncer's
// paths): server registration, the analytics upload that carries the
// server's realms, billing access URLs. Requests come as Zulip's server sends
// them (zerver/lib/remote_server.py, send_to_push_bouncer): form-encoded by
// Python's `requests`, nested objects as JSON strings in form fields, HTTP
// Basic auth; JSON bodies are accepted too. Answers are Zulip's:
// {"result": "success", "msg": "", ...} and {"result": "error", "msg", "code"}.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { ApiDeps } from '../../deps';
import { ErrorBody, HttpError, jsonText, parse } from '../http';
import { analyticsStatus, authenticateServer, issueAccessToken, realmOfServer, recordAnalyticsUpload, registerServer } from '../../domain/billing';
import { NEXT_PAGES } from '../../workflows/billing/messages';
import { emailAddress } from '../../shared/mail';
import { isHostName } from '../../shared/links';

const PREFIX = '/api/v1/remotes/server';
const ANALYTICS_PATH = `${PREFIX}/analytics`;

const serverUuid = z.uuid();
/** Realm hosts become links and redirects back to the self-hosted server: a bare host name, nothing else. */
const hostName = z.string().max(260).toLowerCase().refine(isHostName, 'must be a host name, optionally with a port.');
const serverKey = z.string().length(64, 'must be the 64-character server key');

/** Zulip's error body; BAD_REQUEST is the code of its errors that name none. */
const zulipError: ErrorBody = (err) => ({ result: 'error', msg: err.reason, code: typeof err.extra.code === 'string' ? err.extra.code : 'BAD_REQUEST' });

const success = (data: Record<string, unknown> = {}) => ({ result: 'success', msg: '', ...data });

/**
 * Before the body is read: refusals under these paths answer in Zulip's
 * shape (a body the parser refuses included), and the analytics upload is
 * left for its route to read once the server has authenticated.
 */
export const zulipAnswers: Middleware = async (ctx, next) => {
  if (ctx.path.startsWith('/api/v1/remotes/')) ctx.state.errorBody = zulipError;
  if (ctx.path === ANALYTICS_PATH) (ctx as { disableBodyParser?: boolean }).disableBodyParser = true;
  await next();
};

/** A first upload may carry up to 10,000 rows of each kind of count (Zulip's batch size): far more than any other request. */
const readAnalyticsBody = bodyParser({ enableTypes: ['json', 'form'], jsonLimit: '32mb', formLimit: '32mb', encoding: 'utf-8' });

/** HTTP Basic auth: user = server UUID, password = server key; refused in Zulip's words (zerver/decorator.py, get_basic_credentials). */
function basicCredentials(ctx: Context): { uuid: string; key: string } {
  const header = ctx.get('Authorization');
  ctx.set('WWW-Authenticate', 'Basic realm="zulip"');
  if (!header) throw new HttpError(401, 'Missing authorization header for basic auth', { code: 'UNAUTHORIZED' });
  const [type, encoded, ...rest] = header.trim().split(/\s+/);
  if (type.toLowerCase() !== 'basic') throw new HttpError(400, 'This endpoint requires HTTP basic authentication.');
  const decoded = encoded && rest.length === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64').toString('utf8') : '';
  const parts = decoded.split(':');
  if (parts.length !== 2) throw new HttpError(401, 'Invalid authorization header for basic auth', { code: 'UNAUTHORIZED' });
  const [uuid, key] = parts;
  if (uuid.includes('@')) throw new HttpError(400, 'Must validate with valid Zulip server API key');
  return { uuid: uuid.slice(0, 100), key };
}

/** Ids of uploaded rows: only the highest one of each kind is kept. */
const uploadedRows = jsonText(z.array(z.object({ id: z.number().int().nonnegative() }).loose()).max(100_000)).nullish();

/** Zulip's RealmDataForAnalytics, of which the portal keeps the UUID, host and name. */
const realmInfo = z.object({ uuid: z.uuid(), host: hostName, name: z.string().max(200).default('') }).loose();

/** `manage.py register_server` (and `--rotate-key`, with `new_org_key`): the credentials are in the form. */
export const serverRegistration = z.object({ zulip_org_id: serverUuid, zulip_org_key: serverKey, hostname: hostName, contact_email: emailAddress(), new_org_key: serverKey.optional() });

export const analyticsUpload = z.object({ realm_counts: uploadedRows, installation_counts: uploadedRows, realmauditlog_rows: uploadedRows, realms: jsonText(z.array(realmInfo).max(1000)).nullish() });

export const billingRequest = z.object({
  user: jsonText(z.object({ uuid: z.uuid(), email: emailAddress(), full_name: z.string().max(100) })),
  realm: jsonText(z.object({ uuid: z.uuid() })),
  uri_scheme: z.enum(['http://', 'https://']).default('https://'),
  next_page: z.enum(NEXT_PAGES).nullish(),
});

const highestId = (rows: { id: number }[] | null | undefined) => Math.max(0, ...(rows ?? []).map((r) => r.id));

export function billingRoutes({ db, config, signer }: ApiDeps): Router {
  const router = new Router({ prefix: PREFIX });

  const authenticated = (ctx: Context) => {
    const { uuid, key } = basicCredentials(ctx);
    return authenticateServer(db, uuid, key);
  };

  // `manage.py register_server`: no Basic auth, the credentials are in the form.
  router.post('/register', async (ctx) => {
    const body = parse(serverRegistration, ctx.request.body);
    const { created } = await registerServer(db, {
      uuid: body.zulip_org_id,
      key: body.zulip_org_key,
      ...(body.new_org_key ? { newKey: body.new_org_key } : {}),
      hostname: body.hostname,
      contactEmail: body.contact_email.toLowerCase(),
    });
    ctx.body = success({ created });
  });

  router.get('/analytics/status', async (ctx) => {
    ctx.body = success(analyticsStatus(await authenticated(ctx)));
  });

  // What Zulip's server uploads after MISSING_REMOTE_REALM (send_server_data_to_push_bouncer), and on its schedule.
  router.post('/analytics', async (ctx) => {
    const server = await authenticated(ctx);
    (ctx as { disableBodyParser?: boolean }).disableBodyParser = false;
    await readAnalyticsBody(ctx, async () => undefined);
    const body = parse(analyticsUpload, ctx.request.body);
    const realms = await recordAnalyticsUpload(db, server, {
      realms: body.realms ?? [],
      highestIds: { realmCount: highestId(body.realm_counts), installationCount: highestId(body.installation_counts), realmAuditLog: highestId(body.realmauditlog_rows) },
    });
    // This portal relays no push notifications: Zulip's server shows them as not working instead of failing silently.
    ctx.body = success({ realms: Object.fromEntries(realms.map((r) => [r.uuid, { can_push: false, expected_end_timestamp: null }])) });
  });

  // Zulip's server asks for a billing access URL for one of its users (self_hosting_auth_view_common).
  router.post('/billing', async (ctx) => {
    const server = await authenticated(ctx);
    const body = parse(billingRequest, ctx.request.body);
    const realm = await realmOfServer(db, server, body.realm.uuid);
    const token = issueAccessToken(
      signer,
      {
        kind: 'realm',
        serverUuid: server.uuid,
        realmUuid: realm.uuid,
        userUuid: body.user.uuid,
        email: body.user.email,
        fullName: body.user.full_name,
        uriScheme: body.uri_scheme,
        nextPage: body.next_page ?? null,
      },
      config.ttl.billingAccessToken,
    );
    ctx.body = success({ billing_access_url: `${config.publicUrl}/remote-billing-login/${token}` });
  });

  return router;
}
