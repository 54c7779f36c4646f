// The product flows the benchmark drives through HTTP, as a person (and the
// person's client) makes them, each step timed.
import crypto from 'node:crypto';
import type { SmtpSink, SinkMessage } from './smtpSink';
import { PageClient, PageResponse } from '../test/support/pageClient';
import { requestBody, RequestOptions } from './chaosFlows';

export type Steps = Record<string, number[]>;

export interface Bench {
  baseUrl: string;
  sink: SmtpSink;
}

export async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const result = await fn();
  samples.push(performance.now() - t);
  return result;
}

/**
 * "Try again in a moment" answers (a step past UPDATE_DEADLINE, when other
 * work shares the machine), retried as a person would after Retry-After, and counted.
 */
export const tryAgain = { count: 0 };

async function patiently<T extends { status: number }>(request: () => Promise<T & { retryAfter?: number }>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const res = await request();
    if (res.status !== 503 || attempt >= 5) return res;
    tryAgain.count++;
    await new Promise((r) => setTimeout(r, Math.min(5, res.retryAfter ?? 5) * 1000));
  }
}

/** A page request, patient like `http`. */
export function page(request: () => Promise<PageResponse>): Promise<PageResponse> {
  return patiently(request);
}

export async function http(method: string, url: string, options: RequestOptions = {}): Promise<{ status: number; body: any; text: string }> {
  const res = await patiently(() => once(method, url, options));
  if (res.status >= 400) throw new Error(`${method} ${url} -> ${res.status}: ${res.text.slice(0, 300)}`);
  return res;
}

async function once(method: string, url: string, options: RequestOptions = {}): Promise<{ status: number; body: any; text: string; retryAfter: number }> {
  const res = await fetch(url, { method, redirect: 'manual', ...requestBody(options) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // a page
  }
  return { status: res.status, body, text, retryAfter: Number(res.headers.get('retry-after') ?? 5) };
}

export function linkIn(mail: SinkMessage, prefix: string): string {
  const link = mail.text.match(/https?:\/\/\S+/g)?.find((l) => l.startsWith(prefix));
  if (!link) throw new Error(`no link starting ${prefix} in mail "${mail.subject}"`);
  return link;
}

export function tokenOf(link: string): string {
  const url = new URL(link);
  return url.searchParams.get('token') ?? decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '');
}

/* ---- free trial: register -> mail -> link click -> form post ---- */

export function trialSteps(): Steps {
  return { register: [], mail: [], linkClick: [], formPost: [] };
}

export async function trialSignUp(b: Bench, steps: Steps, email: string, i: number): Promise<void> {
  await timed(steps.register, () => http('POST', `${b.baseUrl}/api/trial/register`, { json: { username: email, firstname: 'Bench', lastname: String(i) } }));
  const mail = await timed(steps.mail, () => b.sink.next(email));
  const link = linkIn(mail, b.baseUrl);
  const browser = new PageClient(b.baseUrl);
  const form = await timed(steps.linkClick, () => page(() => browser.get(link)));
  if (form.status !== 200 || !form.text.includes('name="password"')) throw new Error(`link click -> ${form.status} ${form.h1}`);
  const password = 'Bench-pass-1!';
  const ready = await timed(steps.formPost, () => page(() => browser.post('/trial/register', { token: tokenOf(link), password, confirmation: password, firstname: 'Bench', lastname: String(i) })));
  if (ready.status !== 201) throw new Error(`form post -> ${ready.status} ${ready.h1}`);
}

/* ---- team invitation: create -> mail -> link click -> account -> join ---- */

export interface Inviter {
  bearer: Record<string, string>;
  teamId: string;
}

/** The inviter: an account (through the same sign-up) and a team. */
export async function inviter(b: Bench, runId: string): Promise<Inviter> {
  const email = `bench-inviter-${runId}@example.test`;
  const { accessToken } = await signUp(b, email, `bench-inviter-${runId}`);
  const bearer = { authorization: `Bearer ${accessToken}` };
  const team = await http('POST', `${b.baseUrl}/repo/v1/team`, { json: { name: `Bench ${runId}` }, headers: bearer });
  return { bearer, teamId: (team.body as { id: string }).id };
}

/** Synapse's sign-up: the validation mail (carrying the invitation when there is one), then the account. */
async function signUp(b: Bench, email: string, username: string, invitationToken?: string): Promise<{ accessToken: string; accountId: number }> {
  await http('POST', `${b.baseUrl}/repo/v1/account/emailValidation`, {
    json: { email, firstName: 'Bench', lastName: 'Invitee', ...(invitationToken ? { encodedMembershipInvtnSignedToken: invitationToken } : {}) },
  });
  const mail = await b.sink.next(email, 30_000, /Welcome/);
  const prefix = `${b.baseUrl}/join/account/`;
  const envelope = JSON.parse(Buffer.from(linkIn(mail, prefix).slice(prefix.length), 'base64url').toString()) as Record<string, string>;
  const created = await once('POST', `${b.baseUrl}/repo/v1/account`, { json: { firstName: 'Bench', lastName: 'Invitee', username, password: 'Bench-pass-1!', ...envelope } });
  // 409 after a "try again" answer: the first attempt created the account, so sign in.
  const signedIn = created.status === 409 ? await http('POST', `${b.baseUrl}/auth/v1/login`, { json: { username, password: 'Bench-pass-1!' } }) : created;
  if (signedIn.status >= 400 && signedIn.status !== 503) throw new Error(`account -> ${signedIn.status}: ${signedIn.text.slice(0, 300)}`);
  if (signedIn.status === 503) return signUp(b, email, username, invitationToken);
  const accessToken = (signedIn.body as { accessToken: string }).accessToken;
  return { accessToken, accountId: Number(JSON.parse(Buffer.from(accessToken, 'base64url').toString()).sub) };
}

export function invitationSteps(): Steps {
  return { create: [], mail: [], linkClick: [], account: [], join: [] };
}

export async function invitation(b: Bench, steps: Steps, who: Inviter, runId: string, i: number): Promise<void> {
  const inviteeEmail = `bench-invitee-${runId}-${i}@example.test`;
  await timed(steps.create, () => http('POST', `${b.baseUrl}/repo/v1/membershipInvitation`, { json: { teamId: who.teamId, inviteeEmail }, headers: who.bearer }));
  const mail = await timed(steps.mail, () => b.sink.next(inviteeEmail, 30_000, /invited/));
  const link = linkIn(mail, `${b.baseUrl}/join/invitation/`);
  const landing = await timed(steps.linkClick, () => page(() => new PageClient(b.baseUrl).get(link)));
  if (landing.status !== 200) throw new Error(`invitation link -> ${landing.status} ${landing.h1}`);
  const invitee = await timed(steps.account, () => signUp(b, inviteeEmail, `bench-invitee-${runId}-${i}`, tokenOf(link)));
  const joined = await timed(steps.join, () => http('PUT', `${b.baseUrl}/repo/v1/team/${who.teamId}/member/${invitee.accountId}`, { headers: { authorization: `Bearer ${invitee.accessToken}` } }));
  if (joined.status !== 204) throw new Error(`join -> ${joined.status}`);
}

/* ---- billing login: access URL -> email -> mail -> confirmation click -> confirm-login ---- */

export interface BillingServer {
  auth: Record<string, string>;
  realmUuid: string;
}

/** A self-hosted Zulip server with one realm, registered as Zulip registers it. */
export async function billingServer(b: Bench, runId: string): Promise<BillingServer> {
  const uuid = crypto.randomUUID();
  const key = crypto.randomBytes(32).toString('hex');
  const realm = { uuid: crypto.randomUUID(), host: `bench-${runId}.example.test`, name: `Bench ${runId}` };
  const auth = { authorization: 'Basic ' + Buffer.from(`${uuid}:${key}`).toString('base64') };
  await http('POST', `${b.baseUrl}/api/v1/remotes/server/register`, { form: { zulip_org_id: uuid, zulip_org_key: key, hostname: realm.host, contact_email: `bench-server-${runId}@example.test` } });
  await http('POST', `${b.baseUrl}/api/v1/remotes/server/analytics`, { form: { realm_counts: '[]', installation_counts: '[]', realms: JSON.stringify([realm]) }, headers: auth });
  return { auth, realmUuid: realm.uuid };
}

export function billingSteps(): Steps {
  return { accessUrl: [], emailForm: [], mail: [], confirmationClick: [], confirmLogin: [] };
}

export async function billingLogin(b: Bench, steps: Steps, server: BillingServer, runId: string, i: number): Promise<void> {
  const user = { uuid: crypto.randomUUID(), email: `bench-billing-${runId}-${i}@example.test`, full_name: 'Bench Biller' };
  const access = await timed(steps.accessUrl, () =>
    http('POST', `${b.baseUrl}/api/v1/remotes/server/billing`, { form: { user: JSON.stringify(user), realm: JSON.stringify({ uuid: server.realmUuid }), uri_scheme: 'https://' }, headers: server.auth }),
  );
  const url = (access.body as { billing_access_url: string }).billing_access_url;
  // Each person from an address of their own: the per-address mail limit is not what is measured.
  const browser = new PageClient(b.baseUrl, { 'X-Forwarded-For': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
  const sent = await timed(steps.emailForm, async () => { const form = await page(() => browser.get(url)); return page(() => browser.submit(form, { email: user.email })); });
  if (sent.status >= 400) throw new Error(`email form -> ${sent.status} ${sent.h1}`);
  const mail = await timed(steps.mail, () => b.sink.next(user.email, 30_000, /Confirm email/));
  const confirm = await timed(steps.confirmationClick, () => page(async () => browser.follow(await browser.get(linkIn(mail, `${b.baseUrl}/remote-billing-login/do_confirm/`)))));
  const action = /<form method="post" action="([^"]+)"/.exec(confirm.text)?.[1];
  if (!action) throw new Error(`no confirm-login form: ${confirm.status} ${confirm.h1}`);
  const done = await timed(steps.confirmLogin, () => page(() => browser.post(action, { full_name: user.full_name, tos_consent: 'on' })));
  if (done.status !== 302 && done.status !== 303) throw new Error(`confirm-login -> ${done.status} ${done.h1}`);
}
