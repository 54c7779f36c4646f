import { TokenSigner } from '../../src/shared/tokens';
import type { AccountCreationToken } from '../../src/domain/invitation';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A JSON client for the Synapse-style API of one running service. */
export function apiClient(baseUrl: string) {
  return async function api(method: string, path: string, body?: unknown, accessToken?: string, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(baseUrl + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

export type Api = ReturnType<typeof apiClient>;

export const PASSWORD = 'correct-horse-1!';

/** The token part of an emailed link that starts with `prefix`. */
export function tokenInLink(link: string, prefix: string): string {
  return link.slice(prefix.length);
}

/** Signs up through the real flow: emailValidation, the Welcome mail's link, POST /account. */
export async function signUp(api: Api, baseUrl: string, tag: string, extra: { email?: string; encodedMembershipInvtnSignedToken?: string } = {}) {
  const email = extra.email ?? uniqueEmail(tag);
  const username = `${tag}-${Math.random().toString(36).slice(2, 8)}`;
  const requested = await api('POST', '/repo/v1/account/emailValidation', {
    email,
    firstName: tag,
    lastName: 'Tester',
    ...(extra.encodedMembershipInvtnSignedToken ? { encodedMembershipInvtnSignedToken: extra.encodedMembershipInvtnSignedToken } : {}),
  });
  expect(requested.status).toBe(201);
  const mail = await waitForEmail(email, 'Welcome to flowgate');
  const prefix = `${baseUrl}/join/account/`;
  const envelope = TokenSigner.parse(tokenInLink(linkIn(mail, prefix), prefix)) as AccountCreationToken;
  const created = await api('POST', '/repo/v1/account', {
    firstName: tag,
    lastName: 'Tester',
    username,
    password: PASSWORD,
    emailValidationSignedToken: envelope.emailValidationSignedToken,
    ...(envelope.encodedMembershipInvtnSignedToken ? { encodedMembershipInvtnSignedToken: envelope.encodedMembershipInvtnSignedToken } : {}),
  });
  expect(created.status).toBe(201);
  const accessToken: string = created.body.accessToken;
  const me = TokenSigner.parse(accessToken) as { sub: number };
  return { email, username, accessToken, accountId: Number(me.sub), envelope };
}

/** Polls `probe` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
