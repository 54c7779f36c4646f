// The one OpenAPI 3.1 document of every JSON endpoint, generated from the
// flows' contracts (src/api/<flow>/contract.ts) and served at /openapi.json.
// `npm run openapi` writes the same document to docs/openapi.json.
import Router from '@koa/router';
import { OpenAPIRegistry, OpenApiGeneratorV31, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { version } from '../../package.json';
import { Contract, Credential, ok, Operation } from './contract';
import { codecContract } from './codec';
import { healthContract } from './health';
import { accountsContract, invitationContract } from './invitation/contract';
import { billingContract } from './billing/contract';
import { trialContract } from './trial/contract';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;
type SecurityScheme = { type: 'http'; scheme: 'bearer' | 'basic'; description: string } | { type: 'apiKey'; in: 'header'; name: string; description: string };

const SECURITY_SCHEMES: Record<Credential, SecurityScheme> = {
  account: {
    type: 'http',
    scheme: 'bearer',
    description: 'An access token from `POST /auth/v1/login`, `POST /repo/v1/account` or `POST /api/trial/login`. It ends with a sign-out or a password reset.',
  },
  operator: { type: 'http', scheme: 'bearer', description: 'The operator key: `Authorization: Bearer <ADMIN_TOKEN>`.' },
  trialService: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Service-Token',
    description:
      "The auth service's credential, `TRIAL_SERVICE_TOKEN`. Required whenever the server has one; without one the endpoints are open only with `NODE_ENV` `development` or `test`, and refuse every call otherwise.",
  },
  zulipServer: { type: 'http', scheme: 'basic', description: 'A self-hosted Zulip server: user = its UUID (`zulip_org_id`), password = its 64-character key (`zulip_org_key`).' },
  invitationLink: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Invitation-Token',
    description: "The serialized token of the emailed invitation link: proves the caller holds the link when the account's address is not the invited one.",
  },
};

const openApiContract: Contract = {
  tag: 'Reference',
  description: 'This document.',
  operations: {
    'GET /openapi.json': {
      summary: 'This OpenAPI document',
      answers: { 200: ok('The document.', z.looseObject({ openapi: z.literal('3.1.0'), info: z.looseObject({ title: z.string() }), paths: z.record(z.string(), z.unknown()) })) },
      examples: { document: { summary: 'The document', status: 200 } },
    },
  },
};

/** Every flow's contract, in the order the document lists them. */
export const CONTRACTS: Contract[] = [accountsContract, invitationContract, trialContract, billingContract, codecContract, healthContract, openApiContract];

/** `/team/:id` as OpenAPI writes it: `/team/{id}`. */
export function openApiPath(routerPath: string): string {
  return routerPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** A stable operationId from method and path: `POST /repo/v1/team/:id` → `postRepoV1TeamById`. */
function operationId(method: string, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .map((segment) => (segment.startsWith(':') ? `By-${segment.slice(1)}` : segment))
    .flatMap((segment) => segment.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return method.toLowerCase() + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function routeConfig(tag: string, route: string, op: Operation): RouteConfig {
  const [method, path] = route.split(' ');
  const examples = Object.entries(op.examples);
  const bodyExamples = Object.fromEntries(examples.filter(([, e]) => e.body !== undefined).map(([name, e]) => [name, { summary: e.summary, value: e.body }]));
  const answerExamples = (status: string) =>
    Object.fromEntries(examples.filter(([, e]) => String(e.status) === status && e.answer !== undefined).map(([name, e]) => [name, { summary: e.summary, value: e.answer }]));
  return {
    method: method.toLowerCase() as RouteConfig['method'],
    path: openApiPath(path),
    operationId: operationId(method, path),
    tags: [tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(op.security ? { security: op.security.map((all) => Object.fromEntries(all.map((credential) => [credential, []]))) } : {}),
    request: {
      ...(op.path ? { params: op.path } : {}),
      ...(op.query ? { query: op.query } : {}),
      ...(op.headers ? { headers: op.headers } : {}),
      ...(op.body ? { body: { required: true, content: bodyContent(op, bodyExamples) } } : {}),
    },
    responses: Object.fromEntries(
      Object.entries(op.answers).map(([status, answer]) => {
        const shown = answerExamples(status);
        return [
          status,
          {
            description: answer.description,
            ...(answer.headers ? { headers: answer.headers } : {}),
            ...(answer.body ? { content: { 'application/json': { schema: answer.body, ...(Object.keys(shown).length ? { examples: shown } : {}) } } } : {}),
          },
        ];
      }),
    ),
  };
}

/** JSON, and for a form body first the form, whose object and list fields carry JSON text (OpenAPI's per-field `contentType`). */
function bodyContent(op: Operation, examples: Record<string, { summary: string; value: unknown }>) {
  const json = { 'application/json': { schema: op.body!, examples } };
  if (!op.form) return json;
  const shape = op.body instanceof z.ZodObject ? (op.body.shape as Record<string, z.ZodType>) : {};
  const jsonFields = Object.keys(shape).filter((field) => isStructured(shape[field]));
  const formExamples = Object.fromEntries(Object.entries(examples).map(([name, e]) => [name, { summary: e.summary, value: formFields(e.value) }]));
  return {
    'application/x-www-form-urlencoded': { schema: op.body!, examples: formExamples, encoding: Object.fromEntries(jsonFields.map((field) => [field, { contentType: 'application/json' }])) },
    ...json,
  };
}

/** Whether a field's value is an object or a list (in a form: JSON text). */
function isStructured(schema: z.ZodType): boolean {
  const json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as { type?: string | string[]; anyOf?: { type?: string }[] };
  const types = [json.type, ...(json.anyOf ?? []).map((s) => s.type)].flat().filter(Boolean);
  return types.includes('object') || types.includes('array');
}

/** An example body as form fields: objects and lists as JSON text. */
export function formFields(body: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(body as Record<string, unknown>)
      .filter(([, value]) => value !== undefined)
      .map(([field, value]) => [field, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
}

/** Parameter examples, by the examples' names: the generator takes them only from schema metadata. */
function addParameterExamples(doc: OpenApiDocument, route: string, op: Operation): void {
  const [method, path] = route.split(' ');
  const operation = doc.paths?.[openApiPath(path)]?.[method.toLowerCase() as 'get'];
  for (const parameter of (operation?.parameters ?? []) as { name: string; in: 'path' | 'query' | 'header'; examples?: Record<string, unknown> }[]) {
    const part = ({ path: 'path', query: 'query', header: 'headers' } as const)[parameter.in];
    for (const [name, example] of Object.entries(op.examples)) {
      const value = example[part]?.[parameter.name];
      if (value !== undefined) parameter.examples = { ...parameter.examples, [name]: { summary: example.summary, value } };
    }
  }
}

export function openApiDocument(): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) registry.registerComponent('securitySchemes', name, scheme);
  for (const { tag, operations } of CONTRACTS) for (const [route, op] of Object.entries(operations)) registry.registerPath(routeConfig(tag, route, op));
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'flowgate',
      version,
      description:
        'Durable, email-driven flows: team invitations (Synapse-style `/repo/v1`, `/auth/v1`), free trials (Toucan-style `/api/trial`) and the self-hosted billing login (Zulip\'s `/api/v1/remotes/server`); for operators, Temporal\'s remote codec (`/codec`). ' +
        'Errors are `{"reason": "...", "code"?: "..."}` (Zulip\'s endpoints answer in Zulip\'s shape, `{"result": "error", "msg", "code"}`); limits answer 429 with `Retry-After`; ' +
        'a request that reaches a workflow whose steps cannot run right now, or that the flow does not answer within `UPDATE_DEADLINE`, answers 503 with `Retry-After` (or 409 `try_again`), and the same request can be sent again; so does any request while the database is unreachable.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: CONTRACTS.map(({ tag, description }) => ({ name: tag, description })),
  });
  for (const { operations } of CONTRACTS) for (const [route, op] of Object.entries(operations)) addParameterExamples(doc, route, op);
  return doc;
}

/** The document as committed in docs/openapi.json. */
export function openApiJson(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

export function openApiRoutes(): Router {
  const router = new Router();
  let document: OpenApiDocument | undefined;
  router.get('/openapi.json', (ctx) => {
    document ??= openApiDocument();
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = document;
  });
  return router;
}
