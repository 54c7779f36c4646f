import type { Context, Middleware } from 'koa';
import escapeHtml from 'escape-html';
import { hashKey, randomKey, safeEqual, TokenSigner } from '../shared/tokens';
import { DeadLink, DeadLinkState } from '../shared/links';
import { HttpError } from './http';
import { getCookie, SESSION_COOKIES, setCookie } from './sessions';

/** HTML that is already safe to emit. Everything else is escaped by `html`. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | Interpolation[];

function interpolate(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(interpolate).join('');
  return escapeHtml(String(value));
}

/** Tagged template that escapes every interpolated value unless it is SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  return new SafeHtml(strings.reduce((out, s, i) => out + s + (i < values.length ? interpolate(values[i]) : ''), ''));
}

const STYLE = `
body{font-family:system-ui,-apple-system,sans-serif;background:#f5f6f8;color:#1b1b1b;margin:0}
main{max-width:520px;margin:48px auto;background:#fff;border-radius:10px;padding:32px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin-top:0}
label{display:block;margin:14px 0 4px;font-weight:500}
input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:9px;border:1px solid #767676;border-radius:6px;font-size:1rem}
input[readonly]{background:#eee}
input+.muted{margin:4px 0 0}
.check label{display:inline;font-weight:400}
button,.button{margin-top:20px;background:#2457d6;color:#fff;border:0;border-radius:6px;padding:10px 18px;font-size:1rem;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#e4e7ee;color:#1b1b1b}
.error{background:#fdecea;border:1px solid #f5c2bd;padding:10px;border-radius:6px}
.muted{color:#666;font-size:.9rem}
:focus-visible{outline:3px solid #0b3d91;outline-offset:2px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px}dt{font-weight:500}dd{margin:0}
`;

/** What every view returns; `render` puts it in the one layout. */
export interface Page {
  title: string;
  body: SafeHtml;
  status?: number;
}

/**
 * Sends one page in the shared layout. Pages never leak the URL they were
 * opened with (links carry tokens), cannot be framed and run no script.
 */
export function render(ctx: Context, { title, body, status = 200 }: Page): void {
  const appName = typeof ctx.state.appName === 'string' ? ctx.state.appName : 'flowgate';
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  ctx.body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · ${appName}</title><style>${new SafeHtml(STYLE)}</style></head>
<body><main><h1>${title}</h1>
${body}
</main></body></html>`.value;
}

/** The readable page for every refused request made by a browser; dead links get the one dead-link page. */
export function renderError(ctx: Context, err: HttpError): void {
  if (err.deadLink) return render(ctx, { ...deadLinkPage(err.deadLink), ...(err.title ? { title: err.title } : {}), status: err.status });
  render(ctx, { title: err.title ?? defaultTitle(err.status), status: err.status, body: html`<p class="error">${err.reason}</p>` });
}

const DEAD_LINK_TITLES: Record<DeadLinkState, string> = {
  unknown: 'This link is not valid',
  expired: 'This link has expired',
  used: 'This link was already used',
};

/** Every flow's dead link: what happened, and what to do instead. */
export function deadLinkPage(link: DeadLink): Page {
  const next = link.next;
  const guidance = !next ? '' : next.href ? html`<p>${next.text} <a href="${next.href}">${next.label ?? next.href}</a>.</p>` : html`<p>${next.text}</p>`;
  return { title: DEAD_LINK_TITLES[link.state], status: link.state === 'unknown' ? 404 : 410, body: html`<p class="error">${link.message}</p>${guidance}` };
}

function defaultTitle(status: number): string {
  if (status === 404) return 'Not found';
  if (status === 401) return 'Please sign in';
  if (status === 403) return 'Not allowed';
  if (status === 410) return 'This link can no longer be used';
  if (status === 429) return 'Too many requests';
  if (status >= 500) return 'Something went wrong';
  return 'This request could not be completed';
}

/*
 * ---- CSRF: a signed double-submit token, bound to the session ----
 * The form field is an HMAC of the browser's CSRF cookie and of its session
 * cookies. A cookie an attacker plants (with the field the site gave the
 * attacker for it) fails once the victim is signed in, and over https the
 * `__Host-` prefix keeps anyone else from planting one at all.
 */

const CSRF_COOKIE = 'fg_csrf';
const CSRF_FIELD = '_csrf';

function csrfValue(ctx: Context, signer: TokenSigner, cookie: string): string {
  const sessions = SESSION_COOKIES.map((name) => getCookie(ctx, name) ?? '').join('\n');
  return signer.sign('csrf', { c: cookie, s: hashKey(sessions) }).hmac;
}

/** The hidden form field every form carries; sets the browser's CSRF cookie on first use. */
export function csrfField(ctx: Context, signer: TokenSigner): SafeHtml {
  let cookie = getCookie(ctx, CSRF_COOKIE);
  if (!cookie || !/^[A-Za-z0-9_-]{20,64}$/.test(cookie)) {
    cookie = randomKey();
    setCookie(ctx, CSRF_COOKIE, cookie, { sameSite: 'strict' });
  }
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrfValue(ctx, signer, cookie)}">`;
}

/** Refuses a form post whose CSRF field does not match the browser's cookies. */
export function requireCsrf(signer: TokenSigner): Middleware {
  return async (ctx, next) => {
    const cookie = getCookie(ctx, CSRF_COOKIE);
    const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
    const field = body[CSRF_FIELD];
    if (!cookie || typeof field !== 'string' || !safeEqual(field, csrfValue(ctx, signer, cookie))) {
      throw new HttpError(403, 'This form has expired or did not come from this site. Go back, reload the page and try again.', {}, 'Form expired');
    }
    await next();
  };
}

/** A form that posts back with its CSRF field (from `csrfField`). */
export function form(csrf: SafeHtml, action: string, fields: SafeHtml, submitLabel: string): SafeHtml {
  return html`<form method="post" action="${action}">${csrf}${fields}<button type="submit">${submitLabel}</button></form>`;
}

/** A labelled field; its `hint` (the rule it must meet) is read out with it. */
export function input(name: string, label: string, options: { type?: string; value?: string; readonly?: boolean; required?: boolean; autocomplete?: string; hint?: string } = {}): SafeHtml {
  const type = options.type ?? 'text';
  const hint = options.hint ? `${name}-hint` : undefined;
  return html`<label for="${name}">${label}</label><input id="${name}" name="${name}" type="${type}"${options.value !== undefined ? html` value="${options.value}"` : ''}${options.readonly ? html` readonly` : ''}${options.required ? html` required` : ''}${options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ''}${hint ? html` aria-describedby="${hint}"` : ''}>${hint ? html`<p class="muted" id="${hint}">${options.hint}</p>` : ''}`;
}

export function checkbox(name: string, label: SafeHtml | string, checked = false): SafeHtml {
  return html`<p class="check"><input id="${name}" name="${name}" type="checkbox" value="on"${checked ? html` checked` : ''}> <label for="${name}">${label}</label></p>`;
}

/** The sign-out button of pages for a signed-in account. */
export function signOutForm(csrf: SafeHtml): SafeHtml {
  return html`<form method="post" action="/logout">${csrf}<button type="submit" class="secondary">Sign out</button></form>`;
}

/** A page that is one form: a refusal above it when it is offered again, an optional line of introduction. */
export function formPage(page: { title: string; status?: number; error?: string; intro?: SafeHtml; csrf: SafeHtml; action: string; fields: SafeHtml; submit: string }): Page {
  return {
    title: page.title,
    status: page.status,
    body: html`${problem(page.error)}${page.intro ?? ''}${form(page.csrf, page.action, page.fields, page.submit)}`,
  };
}

/** A refusal shown above a form that is offered again. */
export function problem(reason: string | undefined): SafeHtml {
  return reason ? html`<p class="error" role="alert">${reason}</p>` : html``;
}
