import crypto from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Config } from '../config';
import { Answer, Contract, ok, Operation, refused } from './contract';
import { HttpError } from './http';
import { safeEqual } from '../shared/tokens';
import { ENCRYPTED_ENCODING, EncryptionCodec, fromJsonPayload, KEY_ID_METADATA, PayloadDecodeError, toJsonPayload } from '../shared/codec';

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
const OPERATIONS = ['encode', 'decode'] as const;
const ROUTE = new RegExp(`^/codec(?:/([^/]+))?/(${OPERATIONS.join('|')})$`);
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
const payload = z
  .object({
    metadata: z
      .record(z.string().max(256), base64)
      .meta({ description: 'Each value in base64; `encoding` says what `data` holds (`json/plain`, `binary/encrypted`, …).' })
      .optional(),
    data: base64.meta({ description: 'The payload, in base64.' }).optional(),
  })
  .meta({ id: 'CodecPayload', description: "A Temporal payload as protobuf JSON writes it (Temporal's `common.v1.Payload`)." });
/** The body of either operation, as Temporal's codec clients send it. */
export const codecBody = z.object({ payloads: z.array(payload).max(MAX_PAYLOADS) }, { error: 'The body must be {"payloads": [...]}.' }).meta({ id: 'CodecPayloads' });

/**
 * Answers its routes itself, ahead of the routers, so no router lists them: `jsonRoutes` does, keyed as
 * contracts key routes. The Web UI's `/codec/<ui key>/…` addresses answer the same operations.
 */
export function codecEndpoint(config: Config): Middleware & { jsonRoutes: string[] } {
  const codec = new EncryptionCodec(config.payloadKeys);
  const allowedOrigins = new Set(config.codecCorsOrigins);
  const middleware: Middleware = async (ctx, next) => {
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
    const parsed = codecBody.safeParse(parseJson(await readBody(ctx)));
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
  return Object.assign(middleware, { jsonRoutes: OPERATIONS.flatMap((operation) => [`POST /codec/${operation}`, `OPTIONS /codec/${operation}`]) });
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

/* ---- the contract (src/api/openapi.ts) ---- */

const b64 = (text: string) => Buffer.from(text).toString('base64');
const PLAIN = { metadata: { encoding: b64('json/plain') }, data: b64('"ada@example.com"') };
/** PLAIN, encrypted under the key `k1`. */
const SEALED = {
  metadata: { encoding: b64(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: b64('k1') },
  data: '/gnDp8Cqe1D/i2G36rFMFhfTtnj7HsK4Jk2uHXyWV1IuNeeiBtwRpmNJ1ZMgh1yXQXk1Ljb8wGR8qfSzZYhHbo9eoLDVNvI=',
};
const UI_ORIGIN = 'https://temporal-ui.example.com';

/** The request's payload fields, each always present in an answer (toJsonPayload writes both). */
const answered = z.strictObject({ payloads: z.array(z.strictObject(payload.shape).required()) }).meta({ id: 'CodecAnswer' });

/** Set on every answer to a page of an allowed origin, refusals included, so the page can read them. */
const cors = z.object({
  'Access-Control-Allow-Origin': z.string().optional().meta({ description: 'The request\'s `Origin`, when it is one of `CODEC_CORS_ORIGINS`.', example: UI_ORIGIN }),
  'Access-Control-Allow-Credentials': z.literal('true').optional().meta({ description: 'With `Access-Control-Allow-Origin`.' }),
  Vary: z.string().regex(/\bOrigin\b/).meta({ description: 'Includes `Origin`: the CORS headers depend on it.', example: 'Origin' }),
});
const withCors = (answer: Answer): Answer => ({ ...answer, headers: z.object({ ...answer.headers?.shape, ...cors.shape }) });
const originRefused = { summary: 'From a page of another origin', status: 403, headers: { Origin: 'https://elsewhere.example' }, answer: { reason: 'Origin https://elsewhere.example may not use the codec endpoint (CODEC_CORS_ORIGINS).', code: 'origin_not_allowed' } };

const requestHeaders = z.object({
  'X-Namespace': z.string().optional().meta({ description: 'The namespace the payloads belong to, as the Web UI sends it; another than `TEMPORAL_NAMESPACE` is refused.', example: 'default' }),
  Origin: z.string().optional().meta({ description: "A browser page's origin: only those in `CODEC_CORS_ORIGINS` may call.", example: UI_ORIGIN }),
});

function codecOperation(operation: (typeof OPERATIONS)[number], summary: string, decodeErrors: PayloadDecodeError['code'][], examples: Operation['examples']): Operation {
  return {
    summary,
    description:
      "Temporal's remote codec protocol, for the `temporal` CLI (`--codec-endpoint {PUBLIC_URL}/codec --codec-auth 'Bearer <ADMIN_TOKEN>'`) and scripts. " +
      `The Web UI, which cannot send the operator key, calls the same operation at \`/codec/<ui key>/${operation}\` (\`npm run codec:endpoint\` prints that address). ` +
      'The body is read up to 4 MiB, at most 10,000 payloads; the answer holds as many payloads, in the same order.',
    security: [['operator']],
    headers: requestHeaders,
    body: codecBody,
    answers: Object.fromEntries(
      Object.entries({
        200: ok('The payloads, in the same order.', answered),
        400: refused('Not JSON (`bad_json`), not `{"payloads": [...]}` (`bad_payloads`; the reason names the field), another `X-Namespace`' + (decodeErrors.length ? ', or a payload this server cannot open' : '') + '.', {
          codes: ['bad_json', 'bad_payloads', 'wrong_namespace', ...decodeErrors],
        }),
        401: refused('No operator key.', { challenge: { scheme: 'Bearer', always: true } }),
        403: refused('A wrong operator key, the server has no `ADMIN_TOKEN` (`operator_disabled`), or an `Origin` not in `CODEC_CORS_ORIGINS` (`origin_not_allowed`).', { codes: ['operator_disabled', 'origin_not_allowed'] }),
        413: refused('The body is larger than 4 MiB; the connection is closed.'),
        415: refused('The body is not sent as `application/json`.'),
      }).map(([status, answer]) => [status, withCors(answer)]),
    ),
    examples,
  };
}

/** A browser's preflight before its POST: answered for the origins in CODEC_CORS_ORIGINS. */
const preflight: Operation = {
  summary: "A browser's CORS preflight",
  description: 'Answers the preflight of a page whose origin is in `CODEC_CORS_ORIGINS` (the Web UI\'s), credentials included. Needs no credential: a browser sends none with a preflight.',
  headers: z.object({
    Origin: z.string().optional().meta({ description: "The page's origin.", example: UI_ORIGIN }),
    'Access-Control-Request-Method': z.string().optional().meta({ example: 'POST' }),
    'Access-Control-Request-Headers': z.string().optional().meta({ example: 'content-type,x-namespace' }),
    'Access-Control-Request-Private-Network': z.string().optional().meta({ description: '`true` from a public page to a private address: answered with `Access-Control-Allow-Private-Network`.' }),
  }),
  answers: {
    204: ok(
      'The methods and headers the page may send.',
      undefined,
      z.object({
        ...cors.shape,
        'Access-Control-Allow-Methods': z.literal('POST, OPTIONS'),
        'Access-Control-Allow-Headers': z.literal('Content-Type, X-Namespace, Authorization'),
        'Access-Control-Max-Age': z.literal('600').meta({ description: 'Seconds the browser may keep this answer.' }),
        'Access-Control-Allow-Private-Network': z.literal('true').optional().meta({ description: 'When the preflight asked for it.' }),
      }),
    ),
    403: withCors(refused('An `Origin` not in `CODEC_CORS_ORIGINS`.', { codes: ['origin_not_allowed'] })),
  },
  examples: {
    preflight: { summary: "From the Web UI's origin", status: 204, headers: { Origin: UI_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' } },
    otherOrigin: { ...originRefused, headers: { ...originRefused.headers, 'Access-Control-Request-Method': 'POST' } },
  },
};

const accessExamples = {
  noKey: { summary: 'Without the operator key', status: 401, credentials: { operator: 'omitted' }, body: { payloads: [PLAIN] }, answer: { reason: 'Operator key required: send Authorization: Bearer <ADMIN_TOKEN>.' } },
  wrongKey: { summary: 'With a wrong operator key', status: 403, credentials: { operator: 'wrong' }, body: { payloads: [PLAIN] }, answer: { reason: 'The operator key is not valid.' } },
} satisfies Operation['examples'];

export const codecContract: Contract = {
  tag: 'Payload codec',
  description:
    "For operators: Temporal's remote codec protocol over the flows' encrypted payloads (`PAYLOAD_KEYS`), so the Web UI and the `temporal` CLI show what a history holds. " +
    'Both operations take and answer `{"payloads": [...]}`, payloads as protobuf JSON (metadata values and data in base64), with the operator key.',
  operations: {
    'POST /codec/encode': codecOperation('encode', 'Encrypt payloads', [], {
      encoded: { summary: 'A JSON payload', status: 200, body: { payloads: [PLAIN] }, answer: { payloads: [SEALED] } },
      ...accessExamples,
      otherOrigin: { ...originRefused, body: { payloads: [PLAIN] } },
      otherNamespace: { summary: 'Payloads of another namespace', status: 400, headers: { 'X-Namespace': 'other' }, body: { payloads: [PLAIN] }, answer: { reason: 'This codec serves namespace "default", not "other".', code: 'wrong_namespace' } },
      notPayloads: { summary: 'A payload that is not one', status: 400, body: { payloads: [{ data: 7 }] }, answer: { reason: 'payloads.0.data: Invalid input: expected string, received number', code: 'bad_payloads' } },
      notBase64: { summary: 'Data that is not base64', status: 400, body: { payloads: [{ ...PLAIN, data: 'not base64!' }] }, answer: { reason: 'payloads.0.data: must be base64.', code: 'bad_payloads' } },
      notJson: { summary: 'No JSON body', status: 415, answer: { reason: 'Send the payloads as application/json.' } },
      tooLarge: { summary: 'More than 4 MiB', status: 413, answer: { reason: 'Request body is too large.' } },
    }),
    'POST /codec/decode': codecOperation('decode', 'Decrypt payloads', ['unknown_key', 'unreadable'], {
      decoded: { summary: 'An encrypted payload', status: 200, body: { payloads: [SEALED] }, answer: { payloads: [PLAIN] } },
      plain: { summary: 'A payload that is not encrypted passes through', status: 200, body: { payloads: [PLAIN] }, answer: { payloads: [PLAIN] } },
      fromWebUi: { summary: "From a page of the Web UI's origin", status: 200, headers: { Origin: UI_ORIGIN, 'X-Namespace': 'default' }, body: { payloads: [SEALED] }, answer: { payloads: [PLAIN] } },
      ...accessExamples,
      unknownKey: {
        summary: 'A payload of a key this server does not have',
        status: 400,
        body: { payloads: [{ ...SEALED, metadata: { ...SEALED.metadata, [KEY_ID_METADATA]: b64('retired') } }] },
        answer: { reason: 'The payload was encrypted with key "retired", which is not configured (PAYLOAD_KEYS).', code: 'unknown_key' },
      },
      altered: {
        summary: 'A payload that does not open with its key',
        status: 400,
        body: { payloads: [{ ...SEALED, data: `A${SEALED.data.slice(1)}` }] },
        answer: { reason: 'The encrypted payload does not open with its key: it was altered or is not ours.', code: 'unreadable' },
      },
    }),
    'OPTIONS /codec/encode': preflight,
    'OPTIONS /codec/decode': preflight,
  },
};
