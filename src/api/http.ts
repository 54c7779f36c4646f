import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';
import { TokenError } from '../shared/tokens';
import { log } from '../shared/log';

/** An answer the client caused: rendered as `{"reason": ...}` for the API, as a page for a browser. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    /** Extra JSON fields, e.g. a machine-readable `code`. */
    readonly extra: Record<string, unknown> = {},
    /** Page title when the error is shown to a person. */
    readonly title?: string,
  ) {
    super(reason);
    this.name = 'HttpError';
  }
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
      if (err.status >= 500) log.error({ err: caught, path: ctx.path, method: ctx.method }, 'request failed');
      if (ctx.state.page) {
        renderPage(ctx, err);
      } else {
        ctx.status = err.status;
        ctx.body = { reason: err.reason, ...err.extra };
      }
      if ((err.status === 429 || err.status === 503) && err.extra.retryAfterSeconds) ctx.set('Retry-After', String(err.extra.retryAfterSeconds));
    }
  };
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof TokenError) return new HttpError(403, err.message, { problem: err.problem });
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

/**
 * Waits for `work` at most `withinMs`; never fails. For a request that should
 * let a flow catch up (e.g. after a restart) but must not hang on it.
 */
export async function waitAtMost<T>(work: Promise<T>, withinMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.catch(() => undefined),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), withinMs))),
  ]).finally(() => clearTimeout(timer));
}
