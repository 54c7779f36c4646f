// What a JSON endpoint promises its clients, in the terms its OpenAPI
// operation is generated from (src/api/openapi.ts): the zod schemas its
// route validates with, its answers per status, the credentials it takes,
// and named examples, each one request and the answer it gets. The contract
// test replays every example against a running service and checks each
// answer against the generated document.
import { z } from 'zod';
import type { FlowFailure } from '../shared/failures';
import type { TokenProblem } from '../shared/tokens';

/** The credentials an endpoint may ask for; src/api/openapi.ts describes each as a security scheme. */
export type Credential = 'account' | 'operator' | 'trialService' | 'zulipServer' | 'invitationLink';

export interface Answer {
  description: string;
  /** The JSON body; none for an answer without content (204). */
  body?: z.ZodType;
  /** The headers a client can rely on; optional ones are marked optional in the schema. */
  headers?: z.ZodObject;
}

export interface Example {
  summary: string;
  /** The status the request is answered with. */
  status: number;
  path?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
  /** The answer's body, as the service sends it (ids, tokens and times differ from run to run). */
  answer?: unknown;
  /** Sent without one of the endpoint's credentials, or with a wrong one. */
  credentials?: Partial<Record<Credential, 'omitted' | 'wrong'>>;
}

export interface Operation {
  summary: string;
  description?: string;
  /** Any one of the lists, each list's credentials together. None: a public endpoint. */
  security?: Credential[][];
  path?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** The body: the schema the route parses it with. */
  body?: z.ZodType;
  /** The body travels form-encoded, its objects and lists as JSON text in a field (as Python's `requests` sends a Zulip server's); JSON is accepted too. */
  form?: boolean;
  answers: Record<number, Answer>;
  examples: Record<string, Example>;
}

/** A flow's operations by `METHOD /path`, the path written as its router writes it (`/team/:id`). */
export interface Contract {
  tag: string;
  description: string;
  operations: Record<string, Operation>;
}

/** The schema, when its output is exactly `T`, the type the code answers with: a change to one without the other does not compile. */
export function describing<T>() {
  return <S extends z.ZodType>(schema: S & (Same<z.output<S>, T> extends true ? unknown : { schemaDiffersFrom: T })): S => schema;
}
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/* ---- answers ---- */

export function ok(description: string, body?: z.ZodType, headers?: z.ZodObject): Answer {
  return { description, ...(body ? { body } : {}), ...(headers ? { headers } : {}) };
}

const TOKEN_PROBLEMS = ['malformed', 'invalid', 'expired', 'mismatch'] as const satisfies readonly TokenProblem[];

export interface RefusalShape {
  /** The machine-readable codes this status can carry: failure-table entries or literal codes. Absent: no `code`. */
  codes?: (FlowFailure | string)[];
  /** A refused token says what was wrong with it in `problem`. */
  problem?: boolean;
  /** A limit: `retryAfterSeconds` and the `Retry-After` header, always (`true`) or when the answer knows a time (`'sometimes'`). */
  retryAfter?: true | 'sometimes';
  /** The `WWW-Authenticate` challenge of a missing credential, on every such answer (`true`) or only on some. */
  challenge?: { scheme: 'Bearer' | 'Basic'; always: boolean };
  /** Further fields of this refusal. */
  extra?: z.ZodRawShape;
}

const reason = z.string().meta({ description: 'What went wrong, in a sentence for a person.' });

/** The refusal that carries nothing but its reason. */
const plainRefusal = z.strictObject({ reason }).meta({ id: 'Error' });

/** A refusal: `{reason, code?, ...}` as the API's error handler writes it. */
export function refused(description: string, shape: RefusalShape = {}): Answer {
  if (!shape.codes?.length && !shape.problem && !shape.retryAfter && !shape.extra) {
    return { description, body: plainRefusal, ...(shape.challenge ? { headers: challengeHeader(shape.challenge) } : {}) };
  }
  const codes = [...new Set((shape.codes ?? []).map((c) => (typeof c === 'string' ? c : c.code)))];
  const retry = shape.retryAfter;
  const body = z.strictObject({
    reason,
    ...(codes.length ? { code: z.enum(codes as [string, ...string[]]).optional().meta({ description: 'What went wrong, for a program.' }) } : {}),
    ...(shape.problem ? { problem: z.enum(TOKEN_PROBLEMS).optional().meta({ description: 'What is wrong with the token.' }) } : {}),
    ...(retry ? { retryAfterSeconds: optionalUnless(retry === true, z.number().int().positive().meta({ description: 'Seconds to wait before trying again.' })) } : {}),
    ...shape.extra,
  });
  const headers = {
    ...(retry ? { 'Retry-After': optionalUnless(retry === true, z.string().regex(/^\d+$/).meta({ description: 'Seconds to wait before trying again.' })) } : {}),
    ...(shape.challenge ? challengeHeader(shape.challenge).shape : {}),
  };
  return { description, body, ...(Object.keys(headers).length ? { headers: z.object(headers) } : {}) };
}

function challengeHeader(challenge: NonNullable<RefusalShape['challenge']>) {
  const value = z
    .string()
    .regex(new RegExp(`^${challenge.scheme}\\b`))
    .meta({ description: `The ${challenge.scheme} challenge.`, example: challenge.scheme === 'Basic' ? 'Basic realm="zulip"' : 'Bearer' });
  return z.object({ 'WWW-Authenticate': optionalUnless(challenge.always, value) });
}

function optionalUnless<S extends z.ZodType>(required: boolean, schema: S): S | z.ZodOptional<S> {
  return required ? schema : schema.optional();
}

/** A request the route refused to read: the reason names the field. */
export const invalidRequest = refused('The request is not valid; the reason names the field.');

/** A request the flow is not ready for yet (e.g. the invitation is still being recorded): the same request can be sent again. */
export function tryAgain(...codes: (FlowFailure | string)[]): Answer {
  return refused('Not done right now; the same request can be sent again.', { codes, retryAfter: 'sometimes' });
}

/** What a password sign-in's success sets: the device cookie that later sign-ins from the same client are counted by. */
export const deviceCookieSet = z.object({
  'Set-Cookie': z
    .string()
    .regex(/^(__Host-)?fg_device=/)
    .meta({
      description:
        'The device cookie `fg_device` (`__Host-fg_device` over https; HttpOnly, SameSite=Strict, 90 days): a signed token for this account. Sent back with later sign-ins to it, they are counted for this device alone, so guesses by others do not hold them back.',
      example: 'fg_device=eyJzdWIiOjcsImRldiI6Ii4uLiJ9; path=/; expires=Sat, 02 Aug 2026 09:00:00 GMT; samesite=strict; httponly',
    }),
});

/**
 * Requests that reach a workflow or the database: a step could not run (the
 * database, the mail server or the flows' worker is down), or the flow did
 * not answer by the request's deadline (UPDATE_DEADLINE from its arrival).
 */
export const unavailable = refused(
  "Not done right now: a step could not run (the database, the mail server or the flows' worker is down), or the flow did not answer within `UPDATE_DEADLINE`. The same request can be sent again after `Retry-After` seconds; one with a business key (a link, an invitation and account) then gets the first request's answer.",
  { codes: ['try_again'], retryAfter: true },
);

export const accountRequired = refused('No valid access token: send `Authorization: Bearer <accessToken>`.', { challenge: { scheme: 'Bearer', always: true } });

/* ---- request parts ---- */

/** An id in a path: digits. Anything else names nothing (404). */
export const pathIdParam = (what: string, example: string) => z.string().regex(/^\d{1,9}$/).meta({ description: `The ${what}'s id.`, example });

/** Where an emailed link points: our own page unless the server allows another endpoint for that kind of link. */
export const linkEndpointParam = (variable: string) =>
  z.url().optional().meta({ description: `Where the emailed link points; the serialized token is appended. Our own page by default; otherwise exactly one of the endpoints listed in ${variable}.` });
