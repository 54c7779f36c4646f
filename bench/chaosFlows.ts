// The flows the chaos run drives, one driver per kind. Each returns a check
// that decides, once everything has settled, whether the flow ended as designed.
import type { Client } from '@temporalio/client';
import type { Db } from '../src/shared/db';
import crypto from 'node:crypto';
import type { SmtpSink, SinkMessage } from './smtpSink';
import { PageClient, PageResponse } from '../test/support/pageClient';

export interface FlowContext {
  baseUrl: string;
  adminToken: string;
  /** TRIAL_SERVICE_TOKEN, which the auth service sends to the trial's service endpoints. */
  serviceToken: string;
  sink: SmtpSink;
  db: Db;
  random: () => number;
  /** A 5xx answer, with when its request was sent: a click waits up to UPDATE_DEADLINE, so an outage during that wait explains it. */
  on5xx(url: string, status: number, sentAt: number): void;
  /** Where a request to `baseUrl` goes; with several API processes, the next one in turn, as a load balancer would. */
  route?: (url: string) => string;
}

export interface FlowOutcome {
  kind: string;
  /** The outcome can no longer change (the client gave up on the flow). */
  final?: boolean;
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
export interface RequestOptions {
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

/** A JSON or form body with its content type, and the caller's headers. */
export function requestBody(options: RequestOptions): Pick<RequestInit, 'headers' | 'body'> {
  return {
    headers: {
      ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...options.headers,
    },
    body: options.json !== undefined ? JSON.stringify(options.json) : options.form ? new URLSearchParams(options.form) : undefined,
  };
}

export async function call(ctx: FlowContext, method: string, url: string, options: RequestOptions = {}): Promise<Answer> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const sentAt = Date.now();
    try {
      const res = await fetch(ctx.route ? ctx.route(url) : url, {
        method,
        redirect: 'manual',
        ...requestBody(options),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.status >= 500) {
        ctx.on5xx(url, res.status, sentAt);
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
    // Some trial users forget their password: registering again mails "welcome back" with the reset link.
    const reset = takesOtherPath(id);
    await call(ctx, 'POST', `${ctx.baseUrl}/api/trial/register`, { json: { username: email } });
    const mail = await ctx.sink.next(email, 180_000, /[Vv]erify/);
    if (!abandon) {
      const token = tokenOf(firstLink(mail, ctx.baseUrl));
      const service = { 'X-Service-Token': ctx.serviceToken };
      await call(ctx, 'POST', `${ctx.baseUrl}/api/trial/verify`, { json: { token }, headers: service });
      const created = await call(ctx, 'POST', `${ctx.baseUrl}/api/trial/creation`, { json: { token, password: 'Chaos-pass-1!' }, headers: service });
      // 410 after a retried request means the first attempt created it.
      if (created.status !== 201 && created.status !== 410) throw new Error(`creation answered ${created.status}: ${created.text}`);
      if (reset) await resetPassword(ctx, email, id);
    }
    const password = reset ? RESET_PASSWORD : 'Chaos-pass-1!';
    return {
      kind: 'trial',
      async check(temporal) {
        if (abandon) {
          // An unused link ends the flow as `unverified` once TRIAL_VERIFICATION_TTL has passed.
          const handle = temporal.workflow.getHandle(`trial/${email}`);
          const described = await handle.describe().catch(() => undefined);
          const result = described?.status.name === 'COMPLETED' ? await handle.result() : described?.status.name;
          return { ok: result === 'unverified', detail: `trial ${email} (abandoned): ${result}` };
        }
        const infos = (await fetch(`${ctx.baseUrl}/api/trial/infos?username=${encodeURIComponent(email)}`, { headers: { 'X-Service-Token': ctx.serviceToken }, signal: AbortSignal.timeout(10_000) }).then((r) => r.json(), () => undefined)) as { status?: string } | undefined;
        // The trial user signs in with the password of the last reset (or the first one).
        // From the trial user's own address: the sign-ins of every simulated person together are not one client's guesses.
        const login = await fetch(`${ctx.baseUrl}/api/trial/login`, { method: 'POST', ...requestBody({ json: { username: email, password }, headers: { 'X-Forwarded-For': clientAddress(id, 5) } }), signal: AbortSignal.timeout(10_000) }).then((r) => r.status, () => 0);
        return { ok: infos?.status === 'active' && login === 200, detail: `trial ${email} (completed${reset ? ', password reset' : ''}): status ${infos?.status}, sign-in ${login}` };
      },
    };
  },
};

const RESET_PASSWORD = 'Chaos-reset-2!';

/** The "welcome back" mail's reset link, the request form, the mailed link, the new password: pages, as a person uses them. */
async function resetPassword(ctx: FlowContext, email: string, id: string): Promise<void> {
  await call(ctx, 'POST', `${ctx.baseUrl}/api/trial/register`, { json: { username: email } });
  const welcome = await ctx.sink.next(email, 180_000, /Welcome back/);
  const browser = new PageClient(ctx.baseUrl, { 'X-Forwarded-For': clientAddress(id, 9) }, ctx.route);
  const form = await retryPage(() => browser.get(firstLink(welcome, `${ctx.baseUrl}/trial/password-reset`)));
  const sent = await retryPage(() => browser.submit(form, { username: email }));
  if (sent.h1 !== 'Check your inbox') throw new Error(`password reset request answered ${sent.status}: ${sent.h1}`);
  const mail = await ctx.sink.next(email, 180_000, /Choose a new password/);
  const chooser = await retryPage(() => browser.get(firstLink(mail, `${ctx.baseUrl}/trial/password-reset/new`)));
  if (chooser.h1 === 'This link was already used') return; // a retried request had set it
  const changed = await retryPage(() => browser.submit(chooser, { password: RESET_PASSWORD, confirmation: RESET_PASSWORD }));
  // A cut-off request may have set it already: the link then says so.
  if (changed.h1 !== 'Password changed' && changed.h1 !== 'This link was already used') throw new Error(`new password answered ${changed.status}: ${changed.h1}`);
}

/** Every third flow of a kind takes the kind's other path (a password reset, a legacy login): flows are numbered in turn over the drivers. */
function takesOtherPath(id: string): boolean {
  return Math.floor(Number(id.split('-').pop()) / DRIVERS.length) % 3 === 1;
}

/** Each flow its own client address: the per-address limits are not under test here. */
function clientAddress(id: string, last: number): string {
  const n = Number(id.replace(/\D/g, ''));
  return `10.${(n >> 8) & 255}.${n & 255}.${last}`;
}

export const DRIVERS: Driver[] = [trial];

/** Signs up through the Synapse-style API: validation mail, then the account. */
async function signUp(ctx: FlowContext, email: string, username: string, from: string, invitationToken?: string): Promise<{ accessToken: string; accountId: number }> {
  await call(ctx, 'POST', `${ctx.baseUrl}/repo/v1/account/emailValidation`, {
    json: { email, firstName: 'Chaos', lastName: 'Tester', ...(invitationToken ? { encodedMembershipInvtnSignedToken: invitationToken } : {}) },
  });
  const mail = await ctx.sink.next(email, 180_000, /Welcome/);
  const prefix = `${ctx.baseUrl}/join/account/`;
  const envelope = JSON.parse(Buffer.from(firstLink(mail, prefix).slice(prefix.length), 'base64url').toString()) as Record<string, string>;
  const password = 'Chaos-pass-1!';
  const created = await call(ctx, 'POST', `${ctx.baseUrl}/repo/v1/account`, {
    json: { firstName: 'Chaos', lastName: 'Tester', username, password, ...envelope },
  });
  // 409 after a retried request: the first attempt's account is being created; sign in once it exists.
  let login = created;
  for (const deadline = Date.now() + 60_000; login.status !== 201 && login.status !== 200 && Date.now() < deadline; ) {
    // Each person signs in from an address of their own (`from`): the per-client back-off counts one client's guesses at many accounts.
    login = await call(ctx, 'POST', `${ctx.baseUrl}/auth/v1/login`, { json: { username, password }, headers: { 'X-Forwarded-For': from } });
    if (login.status !== 200) await new Promise((r) => setTimeout(r, 500));
  }
  const accessToken = (login.body as { accessToken?: string })?.accessToken;
  if (!accessToken) throw new Error(`sign-up of ${email} failed: ${created.status} ${created.text}`);
  const sub = JSON.parse(Buffer.from(accessToken, 'base64url').toString()).sub as number;
  return { accessToken, accountId: Number(sub) };
}

const invitation: Driver = {
  name: 'membership-invitation',
  duplicateQueries: {
    teamMemberships: `SELECT "teamId", "accountId" FROM "TeamMember" GROUP BY 1, 2 HAVING count(*) > 1`,
    invitations: `SELECT "teamId", "inviteeEmail" FROM "MembershipInvitation" WHERE "inviteeEmail" LIKE 'chaos-%' GROUP BY 1, 2 HAVING count(*) > 1`,
  },
  async run(ctx, id) {
    const abandon = ctx.random() < 0.2;
    const admin = await signUp(ctx, `chaos-admin-${id}@example.test`, `chaos-admin-${id}`, clientAddress(id, 6));
    const bearer = { authorization: `Bearer ${admin.accessToken}` };
    const team = await call(ctx, 'POST', `${ctx.baseUrl}/repo/v1/team`, { json: { name: `Chaos ${id}` }, headers: bearer });
    const teamId = (team.body as { id: string }).id;
    const inviteeEmail = `chaos-invitee-${id}@example.test`;
    const created = await call(ctx, 'POST', `${ctx.baseUrl}/repo/v1/membershipInvitation`, {
      json: { teamId, inviteeEmail, ...(abandon ? { expiresOn: new Date(Date.now() + 45_000).toISOString() } : {}) },
      // A retry after a cut-off request must not create a second invitation.
      headers: { ...bearer, 'idempotency-key': `chaos-invitation-${id}` },
    });
    const invitationId = (created.body as { id: string }).id;
    if (!invitationId) throw new Error(`invitation answered ${created.status}: ${created.text}`);
    if (!abandon) {
      const mail = await ctx.sink.next(inviteeEmail, 180_000, /invited/);
      const prefix = `${ctx.baseUrl}/join/invitation/`;
      const invitee = await signUp(ctx, inviteeEmail, `chaos-invitee-${id}`, clientAddress(id, 8), firstLink(mail, prefix).slice(prefix.length));
      const joined = await call(ctx, 'PUT', `${ctx.baseUrl}/repo/v1/team/${teamId}/member/${invitee.accountId}`, { headers: { authorization: `Bearer ${invitee.accessToken}` } });
      if (joined.status !== 204) throw new Error(`join answered ${joined.status}: ${joined.text}`);
    }
    return {
      kind: 'membership-invitation',
      async check(temporal) {
        const handle = temporal.workflow.getHandle(`membership-invitation/${invitationId}`);
        const described = await handle.describe().catch(() => undefined);
        const result = described?.status.name === 'COMPLETED' ? await handle.result() : described?.status.name;
        return { ok: result === (abandon ? 'expired' : 'joined'), detail: `invitation ${invitationId} (${abandon ? 'abandoned' : 'accepted'}): ${result}` };
      },
    };
  },
};

const billing: Driver = {
  name: 'billing-login',
  duplicateQueries: {
    realmBillingUsers: `SELECT "realmId", "userUuid" FROM "RemoteRealmBillingUser" GROUP BY 1, 2 HAVING count(*) > 1`,
    serverBillingUsers: `SELECT "serverId", email FROM "RemoteServerBillingUser" GROUP BY 1, 2 HAVING count(*) > 1`,
  },
  async run(ctx, id) {
    const abandon = ctx.random() < 0.2;
    // Some server admins log in the legacy way: the server's UUID and key on our own page, then their email confirmed.
    const legacy = takesOtherPath(id);
    const uuid = crypto.randomUUID();
    const key = crypto.randomBytes(32).toString('hex');
    const realm = { uuid: crypto.randomUUID(), host: `chaos-${id}.example.test`, name: `Chaos ${id}` };
    const auth = { authorization: 'Basic ' + Buffer.from(`${uuid}:${key}`).toString('base64') };
    // As a Zulip server sends them: form fields, objects as JSON strings.
    await call(ctx, 'POST', `${ctx.baseUrl}/api/v1/remotes/server/register`, { form: { zulip_org_id: uuid, zulip_org_key: key, hostname: realm.host, contact_email: `chaos-server-${id}@example.test` } });
    await call(ctx, 'POST', `${ctx.baseUrl}/api/v1/remotes/server/analytics`, { form: { realm_counts: '[]', installation_counts: '[]', realms: JSON.stringify([realm]) }, headers: auth });
    const user = { uuid: crypto.randomUUID(), email: `chaos-billing-${id}@example.test`, full_name: 'Chaos Biller' };
    const browser = new PageClient(ctx.baseUrl, { 'X-Forwarded-For': clientAddress(id, 7) }, ctx.route);
    if (legacy) {
      const login = await retryPage(() => browser.get('/serverlogin/'));
      const emailForm = await retryPage(() => browser.submit(login, { zulip_org_id: uuid, zulip_org_key: key }));
      await retryPage(() => browser.submit(emailForm, { email: user.email }));
      if (!abandon) {
        const mail = await ctx.sink.next(user.email, 180_000, /Confirm email/);
        // The emailed link is the confirm-login page, and works again until it expires: a retry after a kill opens it again.
        const confirm = await retryPage(async () => browser.follow(await browser.get(firstLink(mail, `${ctx.baseUrl}/serverlogin/do_confirm/`))));
        const done = await retryPage(() => browser.submit(confirm, { full_name: 'Chaos Biller', tos_consent: 'on' }));
        if (done.status !== 302 && done.status !== 303) throw new Error(`legacy login answered ${done.status}: ${done.h1}`);
      }
      return {
        kind: 'billing-login',
        async check(_temporal, db) {
          const users = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*)::bigint AS n FROM "RemoteServerBillingUser" u JOIN "RemoteZulipServer" s ON s.id = u."serverId" WHERE s.uuid = $1 AND u.email = $2 AND u."lastLogin" IS NOT NULL`, uuid, user.email);
          const n = Number(users[0].n);
          return { ok: abandon ? n === 0 : n === 1, detail: `legacy server login ${user.email} (${abandon ? 'abandoned' : 'completed'}): logged-in server billing users ${n}` };
        },
      };
    }
    const access = await call(ctx, 'POST', `${ctx.baseUrl}/api/v1/remotes/server/billing`, { form: { user: JSON.stringify(user), realm: JSON.stringify({ uuid: realm.uuid }), uri_scheme: 'https://' }, headers: auth });
    const url = (access.body as { billing_access_url?: string })?.billing_access_url;
    if (!url) throw new Error(`billing answered ${access.status}: ${access.text}`);
    await retryPage(() => browser.get(url));
    await retryPage(() => browser.post(new URL(url).pathname + '/confirm/', { email: user.email }));
    if (!abandon) {
      const mail = await ctx.sink.next(user.email, 180_000, /Confirm email/);
      let confirm = await retryPage(async () => browser.follow(await browser.get(firstLink(mail, `${ctx.baseUrl}/remote-billing-login/do_confirm/`))));
      // An attempt cut off by a kill may already have used the link: like a person, open the access URL again.
      if (!/<form method="post"/.test(confirm.text)) confirm = await retryPage(async () => browser.follow(await browser.get(url)));
      const action = /<form method="post" action="([^"]+)"/.exec(confirm.text)?.[1];
      if (!action) throw new Error(`no confirm-login form: ${confirm.status} ${confirm.h1}`);
      const done = await retryPage(() => browser.post(action, { full_name: 'Chaos Biller', tos_consent: 'on' }));
      if (done.status !== 302 && done.status !== 303) throw new Error(`login answered ${done.status}: ${done.h1}`);
    }
    return {
      kind: 'billing-login',
      async check(temporal, db) {
        const handle = temporal.workflow.getHandle(`billing-login/${realm.uuid}/${user.uuid}`);
        const described = await handle.describe().catch(() => undefined);
        const closed = described && described.status.name !== 'RUNNING';
        const users = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*)::bigint AS n FROM "RemoteRealmBillingUser" WHERE "userUuid" = $1`, user.uuid);
        const n = Number(users[0].n);
        const ok = !!closed && (abandon ? n === 0 : n === 1);
        return { ok, detail: `billing login ${user.email} (${abandon ? 'abandoned' : 'completed'}): workflow ${described?.status.name}, billing users ${n}` };
      },
    };
  },
};

/** A page request that waits out a down API, like a person pressing reload. */
async function retryPage(request: () => Promise<PageResponse>): Promise<PageResponse> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await request();
      if (res.status < 500) return res;
    } catch {
      // the API is down
    }
    if (Date.now() > deadline) throw new Error('page did not answer within 2 minutes');
    await new Promise((r) => setTimeout(r, 250));
  }
}

DRIVERS.push(invitation, billing);

/** Waits until every flow that can still change has reached its end (expiries included), or five minutes have passed. */
export async function settle(outcomes: FlowOutcome[], temporal: Client, db: Db, progress?: (pending: number) => void) {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    const checks = await Promise.all(outcomes.map(async (o) => ({ kind: o.kind, final: o.final, ...(await o.check(temporal, db)) })));
    const pending = checks.filter((c) => !c.ok && !c.final);
    if (pending.length === 0 || Date.now() > deadline) return checks;
    progress?.(pending.length);
    await new Promise((r) => setTimeout(r, 3000));
  }
}

/** Rows that would mean something was created twice. Unique constraints should make each 0. */
export async function countDuplicates(db: Db): Promise<Record<string, number>> {
  const count = async (sql: string) => {
    try {
      const rows = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*)::bigint AS n FROM (${sql}) d`);
      return Number(rows[0].n);
    } catch {
      return -1; // the table does not exist in this build
    }
  };
  return {
    accounts: await count(`SELECT lower(email) FROM "Account" GROUP BY lower(email) HAVING count(*) > 1`),
    ...Object.fromEntries(await Promise.all(DRIVERS.flatMap((d) => Object.entries(d.duplicateQueries ?? {})).map(async ([k, q]) => [k, await count(q)]))),
  };
}

/** Mails received more than once under one Message-ID, with the fault that explains each. */
export function repeatedMails(messages: SinkMessage[], windows: { victim: string; from: number; to?: number }[]) {
  const byId = new Map<string, number>();
  for (const m of messages) byId.set(m.messageId, (byId.get(m.messageId) ?? 0) + 1);
  const repeated = [...byId.entries()].filter(([, n]) => n > 1).map(([messageId, n]) => {
    const copies = messages.filter((m) => m.messageId === messageId);
    const during = copies.slice(1).map((m) => windows.find((w) => w.victim !== 'api' && m.receivedAt >= w.from - 60_000 && m.receivedAt <= (w.to ?? Infinity) + 60_000));
    const fault = during.find(Boolean);
    return {
      messageId, copies: n, subject: copies[0].subject,
      why: fault
        ? `resent after a ${fault.victim} fault: the SMTP server had accepted the mail but the activity's completion (or its ledger row) was lost, so Temporal retried the activity; the same Message-ID lets the receiving side drop the copy`
        : 'resent by an activity retry (timeout) with the same Message-ID',
    };
  });
  return { byId, repeatedMails: repeated };
}
