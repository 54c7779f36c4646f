import crypto from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Config } from '../config';
import { HttpError } from './http';
import { safeEqual } from '../shared/tokens';
import { EncryptionCodec, fromJsonPayload, PayloadDecodeError, toJsonPayload } from '../shared/codec';

/**
 * Temporal's remote codec protocol, for operators: `POST …/encode` and
 * `POST …/decode` with `{"payloads": [...]}` (payloads as proto JSON), so the
 * Web UI and `temporal … --codec-endpoint` show what the flows' encrypted
 * payloads hold. Two ways in, both from the operator key (ADMIN_TOKEN):
 *   /codec/{encode,decode}        with `Authorization: Bearer <ADMIN_TOKEN>` (the CLI's --codec-auth);
 *   /codec/<ui key>/{encode,decode} where the key, derived from ADMIN_TOKEN, is part of the
 *                                  address the Web UI is configured with, since the UI can send
 *                                  no credential of ours.
 */
const ROUTE = /^\/codec(?:\/([^/]+))?\/(encode|decode)$/;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_PAYLOADS = 10_000;

/** The key in the Web UI's codec address: changing ADMIN_TOKEN changes it, and the operator key itself never sits in a URL. */
export function codecUiKey(adminToken: string): string {
  return crypto.createHmac('sha256', adminToken).update('flowgate codec endpoint for the Temporal Web UI').digest('base64url');
}

/** The codec endpoint the Web UI is given (TEMPORAL_CODEC_ENDPOINT, or `--ui-codec-endpoint` under `npm start`). */
export function codecUiEndpoint(config: Pick<Config, 'publicUrl' | 'adminToken'>): string | undefined {
  return config.adminToken ? `${config.publicUrl}/codec/${codecUiKey(config.adminToken)}` : undefined;
}

const base64 = z.string().max(MAX_BODY_BYTES).regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64.');
const payload = z.object({
  metadata: z.record(z.string().max(256), base64).optional(),
  data: base64.optional(),
});
const body = z.object({ payloads: z.array(payload).max(MAX_PAYLOADS) }, { error: 'The body must be {"payloads": [...]}.' });

export function codecEndpoint(config: Config): Middleware {
  const codec = new EncryptionCodec(config.payloadKeys);
  const allowedOrigins = new Set(config.codecCorsOrigins);
  return async (ctx, next) => {
    const route = ROUTE.exec(ctx.path);
    if (!route) return next();
    const [, pathKey, operation] = route;
    const origin = ctx.get('Origin');
    ctx.vary('Origin');
    if (origin) {
      // Only the Web UI's pages may read the answers; other sites get no CORS headers and a refusal.
      if (!allowedOrigins.has(origin)) throw new HttpError(403, `Origin ${origin.slice(0, 100)} may not use the codec endpoint (CODEC_CORS_ORIGINS).`, { code: 'origin_not_allowed' });
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Credentials', 'true');
    }
    if (ctx.method === 'OPTIONS') {
      ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      ctx.set('Access-Control-Max-Age', '600');
      if (ctx.get('Access-Control-Request-Private-Network') === 'true') ctx.set('Access-Control-Allow-Private-Network', 'true');
      ctx.status = 204;
      return;
    }
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST, OPTIONS');
      throw new HttpError(405, 'The codec endpoint answers POST only.');
    }
    authorize(ctx, config, pathKey);
    const namespace = ctx.get('X-Namespace');
    if (namespace && namespace !== config.temporal.namespace) {
      throw new HttpError(400, `This codec serves namespace "${config.temporal.namespace}", not "${namespace.slice(0, 100)}".`, { code: 'wrong_namespace' });
    }
    if (!ctx.is('application/json')) throw new HttpError(415, 'Send the payloads as application/json.');
    const parsed = body.safeParse(parseJson(await readBody(ctx)));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HttpError(400, `${issue.path.length ? issue.path.join('.') + ': ' : ''}${issue.message}`, { code: 'bad_payloads' });
    }
    const payloads = parsed.data.payloads.map(fromJsonPayload);
    try {
      const result = operation === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
      ctx.body = { payloads: result.map(toJsonPayload) };
    } catch (err) {
      if (err instanceof PayloadDecodeError) throw new HttpError(400, err.message, { code: err.code });
      throw err;
    }
  };
}

function authorize(ctx: Context, config: Config, pathKey: string | undefined): void {
  if (!config.adminToken) throw new HttpError(403, 'The codec endpoint is disabled: the server has no ADMIN_TOKEN.', { code: 'operator_disabled' });
  if (pathKey !== undefined) {
    if (!safeEqual(pathKey, codecUiKey(config.adminToken))) throw new HttpError(403, 'The key in this codec address is not valid.', { code: 'bad_codec_key' });
    return;
  }
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'));
  if (!match) {
    ctx.set('WWW-Authenticate', 'Bearer');
    throw new HttpError(401, 'Operator key required: send Authorization: Bearer <ADMIN_TOKEN>.');
  }
  if (!safeEqual(match[1], config.adminToken)) throw new HttpError(403, 'The operator key is not valid.');
}

async function readBody(ctx: Context): Promise<string> {
  const tooLarge = () => {
    // The rest of the body is not read: the connection cannot carry another request.
    ctx.set('Connection', 'close');
    return new HttpError(413, 'Request body is too large.');
  };
  const declared = Number(ctx.get('Content-Length') || 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON.', { code: 'bad_json' });
  }
}
