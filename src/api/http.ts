import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';
import { TokenError } from '../shared/tokens';
import { DeadLink } from '../shared/links';
import { FlowFailure, Refused } from '../shared/failures';
import { log } from '../shared/log';
import { isDatabaseUnavailable } from '../shared/db';

/** An answer the client caused: rendered as `{"reason": ...}` for the API, as a page for a browser. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    /** Extra JSON fields, e.g. a machine-readable `code`. */
    readonly extra: Record<string, unknown> = {},
    /** Page title when the error is shown to a person. */
    readonly title?: string,
    /** A dead link, shown on the one dead-link page. */
    readonly deadLink?: DeadLink,
  ) {
    super(reason);
    this.name = 'HttpError';
  }
}

/** "In a moment", as a 503's Retry-After says it. */
const IN_A_MOMENT_SECONDS = 5;

/** A request that could not finish now (a step could not run, or its deadline passed): the person's "try again in a moment" page, a JSON client's 503 with Retry-After. */
export function tryAgainInAMoment(reason = 'This is taking longer than it should; please try again in a moment.'): HttpError {
  return new HttpError(503, reason, { code: 'try_again', retryAfterSeconds: IN_A_MOMENT_SECONDS }, 'Please try again in a moment');
}

/** A flow's refusal from its failure table (src/api/flows.ts makes them): routes may tell one from another. */
export class FlowRefusal extends HttpError {
  constructor(
    readonly failure: FlowFailure,
    reason: string,
    title?: string,
  ) {
    // A 503 always says when to try again: in a moment, unless the table names a time.
    const retryAfterSeconds = failure.retryAfterSeconds ?? (failure.status === 503 ? IN_A_MOMENT_SECONDS : undefined);
    super(failure.status, reason, { code: failure.code, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) }, title ?? failure.title);
  }

  is(failure: FlowFailure): boolean {
    return this.failure.type === failure.type;
  }
}

const DEAD_LINK_CODES = { unknown: 'unknown_token', expired: 'token_expired', used: 'token_used' } as const;

/** A dead link's answer: 404 when unknown, 410 when expired or used. */
export function deadLinkError(link: DeadLink): HttpError {
  return new HttpError(link.answer?.status ?? (link.state === 'unknown' ? 404 : 410), link.message, { code: DEAD_LINK_CODES[link.state] }, link.answer?.title, link);
}

/** A database id: a positive 32-bit integer, given as a number or as digits. Anything larger is a 400, not a database error. */
export const dbId = z
  .union([z.number({ error: 'must be a numeric id.' }), z.string().regex(/^\d{1,10}$/, 'must be a numeric id.')], { error: 'must be a numeric id.' })
  .transform(Number)
  .pipe(z.number().int('must be a numeric id.').min(1, 'must be a numeric id.').max(2_147_483_647, 'is out of range.'));

/**
 * Text a person typed that others will read (a team name, an invitation's
 * message): no control characters (a newline only where lines are allowed),
 * no bidirectional overrides that make a text read other than it is.
 */
export function plainText(max: number, options: { multiline?: boolean; min?: number } = {}) {
  const allowed = options.multiline ? /^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u : /^[^\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/u;
  return z
    .string()
    .trim()
    .min(options.min ?? 0, 'is required.')
    .max(max, `must be at most ${max} characters.`)
    .transform((v) => (options.multiline ? v.replace(/\r\n?/g, '\n') : v))
    .refine((v) => allowed.test(options.multiline ? v.replace(/\n/g, '') : v), 'must not contain control characters.');
}

/** An id in a path: anything but digits names nothing, so it is a 404 like an id that does not exist. */
export function pathId(value: string, what: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new HttpError(404, `There is no such ${what}.`);
  return Number(value);
}

/**
 * A nested object as a form carries it: a JSON string in one field (Zulip's
 * servers send their requests form-encoded that way); a JSON body may give
 * the object itself.
 */
export function jsonText<S extends z.ZodType>(schema: S) {
  return z.preprocess((value, ctx) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not valid JSON.' });
      return z.NEVER;
    }
  }, schema);
}

/** Validates untrusted input; the first problem becomes a 400 that names the field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  throw new HttpError(400, `${where}${issue.message}`);
}

/** Token failures are the client's: the status is the caller's choice (Synapse uses 403). */
export function tokenRefusal(err: unknown, status = 403): never {
  if (err instanceof TokenError) throw new HttpError(status, err.message, { problem: err.problem });
  throw err;
}

export type PageRenderer = (ctx: Context, err: HttpError) => void;

/** The JSON body of a refusal, for an API whose clients expect another shape than `{"reason": ...}` (set in `ctx.state.errorBody`). */
export type ErrorBody = (err: HttpError) => Record<string, unknown>;

/**
 * Turns every failure into a clear 4xx answer. Anything unexpected is logged
 * and answered with a plain 500 that carries no internals.
 */
export function errorHandler(renderPage: PageRenderer): Middleware {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new HttpError(404, 'Not found.', {}, 'Page not found');
    } catch (caught) {
      const err = toHttpError(caught);
      // The route template, never the path: paths such as /join/invitation/<token> carry the link's secret.
      if (err.status >= 500) log.error({ err: caught, route: (ctx as { _matchedRoute?: string })._matchedRoute ?? '(no route)', method: ctx.method }, 'request failed');
      if (ctx.state.page) {
        renderPage(ctx, err);
      } else {
        ctx.status = err.status;
        const errorBody = ctx.state.errorBody as ErrorBody | undefined;
        ctx.body = errorBody ? errorBody(err) : { reason: err.reason, ...err.extra };
      }
      if ((err.status === 429 || err.status === 503) && err.extra.retryAfterSeconds) ctx.set('Retry-After', String(err.extra.retryAfterSeconds));
    }
  };
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof DeadLink) return deadLinkError(err);
  if (err instanceof Refused) return new FlowRefusal(err.failure, err.message, err.title);
  if (err instanceof TokenError) return new HttpError(403, err.message, { problem: err.problem });
  // The database is down or restarting: the request may succeed in a moment, as a flow's step that cannot run now.
  if (isDatabaseUnavailable(err)) return tryAgainInAMoment('This could not be completed right now; please try again in a moment.');
  const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
  const status = e?.status ?? e?.statusCode;
  // Errors raised by Koa and its body parser for bad requests carry a 4xx status.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const reason =
      status === 413 ? 'Request body is too large.'
      : e.type === 'entity.parse.failed' || /JSON|parse/i.test(e.message ?? '') ? 'Request body is not valid JSON.'
      : status === 415 ? 'Unsupported content type.'
      : e.expose && e.message ? e.message
      : 'Bad request.';
    return new HttpError(status, reason);
  }
  return new HttpError(500, 'Something went wrong on our side. Please try again.');
}

/** Marks a router's responses as pages for people, so errors render as HTML. */
export const asPages: Middleware = async (ctx, next) => {
  ctx.state.page = true;
  await next();
};
