// Every kind of signed token the service issues, taken from a real flow and
// then forged, re-typed, re-bound, expired and replayed at the endpoint that
// consumes it. Each variant must be refused and change nothing; the genuine
// token is accepted, so the refusals are not a broken endpoint.
import { TokenSigner, TokenFields } from '../../src/shared/tokens';
import { ACCESS_TOKEN } from '../../src/shared/auth';
import { EMAIL_VALIDATION_TOKEN, INVITEE_VERIFICATION_TOKEN, MEMBERSHIP_INVITATION_TOKEN, NOTIFICATION_UNSUBSCRIBE_TOKEN } from '../../src/domain/invitation';
import { ACCESS_TOKEN as BILLING_ACCESS_TOKEN, CONFIRMATION_KEY, SERVER_LOGIN_TOKEN, SESSION_TOKEN } from '../../src/domain/billing';
import { TRIAL_PASSWORD_RESET, TRIAL_VERIFICATION } from '../../src/domain/trial';
import { startService, TestService } from '../support/service';
import { createIsolatedEnvironment, tableCounts } from '../support/isolatedDb';
import { linkIn, uniqueEmail, waitForEmail } from '../support/mailbox';
import { apiClient, signUp, tokenInLink } from '../invitations/helpers';
import { billingAccessUrl, newUser, registerDemoServer } from '../billing/helpers';
import { respelled } from '../support/respelled';

const ALL_TYPES = [
  ACCESS_TOKEN, MEMBERSHIP_INVITATION_TOKEN, INVITEE_VERIFICATION_TOKEN, EMAIL_VALIDATION_TOKEN, NOTIFICATION_UNSUBSCRIBE_TOKEN,
  BILLING_ACCESS_TOKEN, SERVER_LOGIN_TOKEN, SESSION_TOKEN, CONFIRMATION_KEY,
  TRIAL_VERIFICATION, TRIAL_PASSWORD_RESET, 'csrf',
];

const signer = new TokenSigner(process.env.TOKEN_SECRET!);
const attacker = new TokenSigner('attacker-secret-0123456789abcdef01234567');

function fieldsOf(token: TokenFields): TokenFields {
  const { hmac: _hmac, ...fields } = token;
  return fields;
}

function changed(value: TokenFields[string]): TokenFields[string] {
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  if (value === null) return 'x';
  const date = Date.parse(value);
  if (/^\d{4}-\d\d-\d\dT/.test(value) && Number.isFinite(date)) return new Date(date + 86_400_000).toISOString();
  return value + 'x';
}

/** Every way to get a token wrong, named, from one genuine token of type `type`. */
function variants(type: string, genuine: TokenFields, other: TokenFields): Array<[string, unknown]> {
  const fields = fieldsOf(genuine);
  const out: Array<[string, unknown]> = [
    ['forged hmac', { ...genuine, hmac: Buffer.alloc(32, 7).toString('base64url') }],
    // The genuine MAC's bytes in another spelling (a lenient decoder reads the same bytes).
    ['hmac with its spare bits changed', { ...genuine, hmac: respelled(String(genuine.hmac)) }],
    ['hmac with padding', { ...genuine, hmac: `${genuine.hmac}=` }],
    ['hmac of another token', { ...genuine, hmac: other.hmac }],
    ['no hmac', fields],
    ['extra field', { ...genuine, admin: true }],
    ['signed with an unknown secret', attacker.sign(type, fields)],
    ['a string', 'not-a-token'],
    ['an array', [genuine]],
  ];
  for (const key of Object.keys(fields)) out.push([`${key} changed`, { ...genuine, [key]: changed(fields[key]) }]);
  for (const t of ALL_TYPES) if (t !== type) out.push([`re-signed as ${t}`, signer.sign(t, fields)]);
  for (const key of ['expiresOn', 'expiresAt', 'exp']) {
    if (!(key in fields)) continue;
    const past = typeof fields[key] === 'number' ? Date.now() - 1000 : new Date(Date.now() - 1000).toISOString();
    out.push([`expired (${key})`, signer.sign(type, { ...fields, [key]: past })]);
  }
  return out;
}

const serialize = (value: unknown) => (typeof value === 'string' ? value : Buffer.from(JSON.stringify(value)).toString('base64url'));

describe('forged, re-typed, re-bound, expired and replayed tokens', () => {
  let service: TestService;
  let databaseUrl: string;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    const isolated = await createIsolatedEnvironment('attack_tokens');
    databaseUrl = isolated.DATABASE_URL;
    service = await startService({ ...isolated, TRUST_PROXY: '1' });
    api = apiClient(service.baseUrl);
  });
  afterAll(() => service?.stop());

  /** Sends every variant, expects each refused with `status`, and the database unchanged. */
  async function expectAllRefused(variantsToSend: Array<[string, unknown]>, send: (token: unknown) => Promise<number>, refused: (status: number) => boolean) {
    const before = await tableCounts(databaseUrl);
    const accepted: string[] = [];
    for (const [name, token] of variantsToSend) {
      const status = await send(token);
      if (!refused(status)) accepted.push(`${name}: ${status}`);
    }
    expect(accepted).toEqual([]);
    expect(await tableCounts(databaseUrl)).toEqual(before);
    return variantsToSend.length;
  }

  it('membership invitation tokens: only the genuine one opens its own invitation', async () => {
    const admin = await signUp(api, service.baseUrl, 'tokadmin');
    const team = await api('POST', '/repo/v1/team', { name: 'Token team' }, admin.accessToken);
    const invite = async () => {
      const email = uniqueEmail('tokinvitee');
      const created = await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeEmail: email }, admin.accessToken);
      const prefix = `${service.baseUrl}/join/invitation/`;
      const serialized = tokenInLink(linkIn(await waitForEmail(email, /invited/), prefix), prefix);
      return { id: created.body.id as string, token: TokenSigner.parse(serialized) as TokenFields };
    };
    const first = await invite();
    const second = await invite();
    const forged = variants(MEMBERSHIP_INVITATION_TOKEN, first.token, second.token);
    // The API names the invitation in its path, so a genuine token for another one is a binding violation.
    const all = [...forged, ['genuine token of another invitation', second.token] as [string, unknown]];
    const viaApi = (token: unknown) => api('POST', `/repo/v1/membershipInvitation/${first.id}`, token).then((r) => r.status);
    const viaPage = (token: unknown) => fetch(`${service.baseUrl}/join/invitation/${serialize(token)}`).then((r) => r.status);
    const n = await expectAllRefused(all, viaApi, (s) => s === 403 || s === 400);
    await expectAllRefused(forged, viaPage, (s) => s >= 400 && s < 500);
    expect(await viaApi(first.token)).toBe(200);
    expect(await viaPage(first.token)).toBe(200);
    expect(n).toBeGreaterThan(15);
  });

  it('email validation tokens: forged ones create no account; the genuine one creates exactly one', async () => {
    const email = uniqueEmail('tokvalid');
    await api('POST', '/repo/v1/account/emailValidation', { email, firstName: 'T', lastName: 'V' });
    const prefix = `${service.baseUrl}/join/account/`;
    const envelope = TokenSigner.parse(tokenInLink(linkIn(await waitForEmail(email, /Welcome/), prefix), prefix)) as { emailValidationSignedToken: TokenFields };
    const genuine = envelope.emailValidationSignedToken;
    const otherEmail = uniqueEmail('tokother');
    await api('POST', '/repo/v1/account/emailValidation', { email: otherEmail, firstName: 'T', lastName: 'V' });
    const other = (TokenSigner.parse(tokenInLink(linkIn(await waitForEmail(otherEmail, /Welcome/), prefix), prefix)) as { emailValidationSignedToken: TokenFields }).emailValidationSignedToken;
    const create = (token: unknown, username = `tok${Math.random().toString(36).slice(2, 8)}`) =>
      api('POST', '/repo/v1/account', { firstName: 'T', lastName: 'V', username, password: 'Token-pass-1!', emailValidationSignedToken: token }).then((r) => r.status);
    await expectAllRefused(variants(EMAIL_VALIDATION_TOKEN, genuine, other), create, (s) => s >= 400 && s < 500);
    expect(await create(genuine)).toBe(201);
    // Replayed: the same token creates no second account.
    expect(await create(genuine)).toBe(409);
  });

  it('access tokens: forged bearer tokens read nothing', async () => {
    const admin = await signUp(api, service.baseUrl, 'tokbearer');
    const other = await signUp(api, service.baseUrl, 'tokbearer2');
    const team = await api('POST', '/repo/v1/team', { name: 'Bearer team' }, admin.accessToken);
    const read = (token: unknown) => api('GET', `/repo/v1/membershipInvitation/statistics?teamId=${team.body.id}`, undefined, serialize(token)).then((r) => r.status);
    const genuine = TokenSigner.parse(admin.accessToken) as TokenFields;
    await expectAllRefused(variants(ACCESS_TOKEN, genuine, TokenSigner.parse(other.accessToken) as TokenFields), read, (s) => s === 401);
    // Another user's genuine token is authenticated but not allowed.
    expect(await read(TokenSigner.parse(other.accessToken))).toBe(403);
    expect(await read(genuine)).toBe(200);
  });

  it('notification unsubscribe tokens: only the genuine one unsubscribes, its own account only', async () => {
    const admin = await signUp(api, service.baseUrl, 'tokunsub-admin');
    const team = await api('POST', '/repo/v1/team', { name: 'Unsubscribe tokens' }, admin.accessToken);
    const tokenFor = async (tag: string) => {
      const member = await signUp(api, service.baseUrl, tag);
      expect((await api('POST', '/repo/v1/membershipInvitation', { teamId: team.body.id, inviteeId: member.accountId }, admin.accessToken)).status).toBe(201);
      const prefix = `${service.baseUrl}/join/unsubscribe/`;
      return TokenSigner.parse(tokenInLink(linkIn(await waitForEmail(member.email, /You are invited/), prefix), prefix)) as TokenFields;
    };
    const [genuine, other] = [await tokenFor('tokunsub1'), await tokenFor('tokunsub2')];
    const unsubscribe = (token: unknown) => api('POST', '/repo/v1/notificationUnsubscribe', token).then((r) => r.status);
    await expectAllRefused(variants(NOTIFICATION_UNSUBSCRIBE_TOKEN, genuine, other), unsubscribe, (s) => s >= 400 && s < 500);
    expect(await unsubscribe(genuine)).toBe(204);
  });

  it('billing access tokens: only the genuine one opens the login page', async () => {
    const server = await registerDemoServer(service.baseUrl);
    const url = await billingAccessUrl(service.baseUrl, server, newUser(uniqueEmail('tokbill')));
    const otherUrl = await billingAccessUrl(service.baseUrl, server, newUser(uniqueEmail('tokbill2')));
    const tokenOf = (u: string) => TokenSigner.parse(u.split('/remote-billing-login/')[1]) as TokenFields;
    const open = (token: unknown) => fetch(`${service.baseUrl}/remote-billing-login/${serialize(token)}`, { headers: { 'X-Forwarded-For': '198.51.100.77' } }).then((r) => r.status);
    await expectAllRefused(variants(BILLING_ACCESS_TOKEN, tokenOf(url), tokenOf(otherUrl)), open, (s) => s === 400 || s === 410);
    expect(await open(tokenOf(url))).toBe(200);
  });

  it('trial verification tokens: only the genuine one verifies', async () => {
    const register = async () => {
      const email = uniqueEmail('toktrial');
      expect((await api('POST', '/api/trial/register', { username: email })).status).toBe(202);
      const link = linkIn(await waitForEmail(email, /[Vv]erify/), `${service.baseUrl}/trial/register?token=`);
      return new URL(link).searchParams.get('token')!;
    };
    const genuine = await register();
    const other = await register();
    const verify = (token: unknown) => api('POST', '/api/trial/verify', { token: serialize(token) }).then((r) => r.status);
    await expectAllRefused(variants(TRIAL_VERIFICATION, TokenSigner.parse(genuine) as TokenFields, TokenSigner.parse(other) as TokenFields), verify, (s) => s >= 400 && s < 500);
    // The genuine link's token in other spellings of the same bytes and fields.
    const respellings: Array<[string, unknown]> = [
      ['padded', `${genuine}=`],
      ['with spaces in its JSON', Buffer.from(JSON.stringify(TokenSigner.parse(genuine), null, 1)).toString('base64url')],
      ...(genuine.length % 4 ? [['spare bits changed', respelled(genuine)] as [string, unknown]] : []),
    ];
    await expectAllRefused(respellings, verify, (s) => s >= 400 && s < 500);
    expect(await verify(genuine)).toBe(200);
  });
});
