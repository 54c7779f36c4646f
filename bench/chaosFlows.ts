// The flows the chaos run drives, one driver per kind. Each returns a check
// that decides, once everything has settled, whether the flow ended as designed.
import type { Client } from '@temporalio/client';
import type { Db } from '../src/shared/db';
import type { SmtpSink, SinkMessage } from './smtpSink';

export interface FlowContext {
  baseUrl: string;
  adminToken: string;
  sink: SmtpSink;
  db: Db;
  random: () => number;
  on5xx(url: string, status: number): void;
}

export interface FlowOutcome {
  kind: string;
  check(temporal: Client, db: Db): Promise<{ ok: boolean; detail: string }>;
}

export interface Driver {
  name: string;
  run(ctx: FlowContext, id: string): Promise<FlowOutcome>;
  /** SQL selecting one row per thing that exists twice. */
  duplicateQueries?: Record<string, string>;
}

export interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

/**
 * One HTTP call as a patient client makes it: while a process is down
 * (connection refused, 5xx) it waits and tries again, up to two minutes.
 */
export async function call(ctx: FlowContext, method: string, url: string, options: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Answer> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(url, {
        method,
        redirect: 'manual',
        headers: {
          ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...options.headers,
        },
        body: options.json !== undefined ? JSON.stringify(options.json) : options.form ? new URLSearchParams(options.form) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.status >= 500) {
        ctx.on5xx(url, res.status);
      } else {
        let body: unknown = undefined;
        try {
          body = JSON.parse(text);
        } catch {
          // a page
        }
        return { status: res.status, body, text, headers: res.headers };
      }
    } catch {
      // connection refused or reset: the API is down
    }
    if (Date.now() > deadline) throw new Error(`${method} ${url}: no answer within 2 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function firstLink(mail: SinkMessage, baseUrl: string): string {
  const link = mail.text.match(/https?:\/\/\S+/g)?.find((l) => l.startsWith(baseUrl));
  if (!link) throw new Error(`no link in mail "${mail.subject}"`);
  return link;
}

function tokenOf(link: string): string {
  const url = new URL(link);
  return url.searchParams.get('token') ?? decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '');
}

const trial: Driver = {
  name: 'trial',
  async run(ctx, id) {
    const email = `chaos-trial-${id}@example.test`;
    const abandon = ctx.random() < 0.2;
    await call(ctx, 'POST', `${ctx.baseUrl}/api/trial/register`, { json: { username: email } });
    const mail = await ctx.sink.next(email, 180_000);
    if (!abandon) {
      const token = tokenOf(firstLink(mail, ctx.baseUrl));
      await call(ctx, 'POST', `${ctx.baseUrl}/api/trial/verify`, { json: { token } });
      const created = await call(ctx, 'POST', `${ctx.baseUrl}/api/trial/creation`, { json: { token, password: 'Chaos-pass-1!' } });
      // 410 after a retried request means the first attempt created it.
      if (created.status !== 201 && created.status !== 410) throw new Error(`creation answered ${created.status}: ${created.text}`);
    }
    return {
      kind: 'trial',
      async check() {
        const infos = await fetch(`${ctx.baseUrl}/api/trial/infos?username=${encodeURIComponent(email)}`).then((r) => r.json(), () => undefined) as { status?: string } | undefined;
        const want = abandon ? ['unverified', 'expired', 'pending_verification_expired'] : ['active'];
        const ok = !!infos?.status && (abandon ? infos.status !== 'active' && infos.status !== 'pending_verification' : want.includes(infos.status));
        return { ok, detail: `trial ${email} (${abandon ? 'abandoned' : 'completed'}): status ${infos?.status}` };
      },
    };
  },
};

export const DRIVERS: Driver[] = [trial];
