// Personal data stays out of Temporal's history: a real flow's raw history
// (read without the codec) holds no email address or name in any payload,
// while the codec endpoint, as the Web UI and the CLI call it, shows them.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startService, TestService } from './support/service';
import { uniqueEmail, waitForEmail } from './support/mailbox';
import { apiClient, PASSWORD, signUp } from './invitations/helpers';
import { ENCRYPTED_ENCODING, JsonPayload, mapJsonPayloads } from '../src/shared/codec';
import { codecUiKey } from '../src/api/codec';
import { emailValidationWorkflowId } from '../src/workflows/invitation/messages';
import { resolveTemporalCli } from '../src/dev/temporal';
import { replayFailures } from './support/histories';

const UI_ORIGIN = 'http://localhost:8233';
const ADMIN = `Bearer ${process.env.ADMIN_TOKEN}`;

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service?.stop());

/** The history exactly as Temporal stores it: the raw gRPC call, no data converter. */
async function rawHistory(workflowId: string): Promise<unknown> {
  const { history } = await service.temporal.workflowService.getWorkflowExecutionHistory({ namespace: service.config.temporal.namespace, execution: { workflowId } });
  return JSON.parse(JSON.stringify(history));
}

/** Search attributes are meant to be readable by Temporal (README: what stays visible); everything else is checked. */
function withoutSearchAttributes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSearchAttributes);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'searchAttributes').map(([k, v]) => [k, withoutSearchAttributes(v)]));
}

async function payloadsOf(history: unknown): Promise<JsonPayload[]> {
  const found: JsonPayload[] = [];
  await mapJsonPayloads(history, async (p) => (found.push(p), p));
  return found;
}

/**
 * The payloads the service's data converter wrote: all but the markers' own
 * bookkeeping, which the SDK's core writes itself (a patch's id, a local
 * activity's id, type and times under `data`; its `result` is ours).
 */
async function convertedPayloadsOf(history: unknown): Promise<JsonPayload[]> {
  return payloadsOf(withoutMarkerBookkeeping(history));
}

function withoutMarkerBookkeeping(history: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(history)) as { events: Array<{ markerRecordedEventAttributes?: { details?: Record<string, unknown> } }> };
  for (const event of copy.events) {
    const details = event.markerRecordedEventAttributes?.details;
    if (details) for (const key of Object.keys(details)) if (key !== 'result') delete details[key];
  }
  return copy;
}

/** Where in the history the payloads not encrypted by the codec are (event index and field path). */
function plainPlaces(payloadHolder: unknown, at = ''): string[] {
  if (Array.isArray(payloadHolder)) return payloadHolder.flatMap((v, i) => plainPlaces(v, `${at}[${i}]`));
  if (!payloadHolder || typeof payloadHolder !== 'object') return [];
  const record = payloadHolder as Record<string, unknown>;
  const metadata = record.metadata as Record<string, string> | undefined;
  if (metadata && typeof metadata.encoding === 'string') return unb64(metadata.encoding) === ENCRYPTED_ENCODING ? [] : [at];
  // The trace context header (a W3C trace and span id, README: what stays visible): Temporal's codecs do not see headers.
  return Object.entries(record).flatMap(([k, v]) => (k === TRACE_HEADER ? [] : plainPlaces(v, `${at}.${k}`)));
}

const TRACE_HEADER = '_tracer-data';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s = '') => Buffer.from(s, 'base64').toString('utf8');

function codec(path: string, body: unknown, headers: Record<string, string> = {}, method = 'POST') {
  return fetch(`${service.baseUrl}${path}`, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function decodeThroughEndpoint(payloads: JsonPayload[]): Promise<string> {
  const res = await codec(`/codec/${codecUiKey(process.env.ADMIN_TOKEN!)}/decode`, { payloads }, { Origin: UI_ORIGIN, 'X-Namespace': 'default' });
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
  const decoded = (await res.json()) as { payloads: JsonPayload[] };
  expect(decoded.payloads).toHaveLength(payloads.length);
  for (const p of decoded.payloads) expect(unb64(p.metadata?.encoding)).not.toBe(ENCRYPTED_ENCODING);
  return decoded.payloads.map((p) => unb64(p.data)).join('\n');
}

describe('a flow\'s history', () => {
  let email: string;
  let workflowId: string;
  let encrypted: JsonPayload[];
  const firstName = 'Zenobia';

  beforeAll(async () => {
    // A sign-up: the email validation's input carries the address and the name; the account's creation, the password's hash.
    // The service keeps addresses lower-cased.
    email = (await signUp(apiClient(service.baseUrl), service.baseUrl, firstName)).email.toLowerCase();
    workflowId = emailValidationWorkflowId(email);
  });

  it('holds no email address or name in any payload when read raw', async () => {
    const history = withoutSearchAttributes(await rawHistory(workflowId));
    const payloads = await payloadsOf(history);
    const converted = await convertedPayloadsOf(history);
    expect(converted.length).toBeGreaterThan(3);
    expect(plainPlaces(await withoutMarkerBookkeeping(history))).toEqual([]);
    // Nowhere else either (failure messages, update inputs, results), apart from the workflow ID itself.
    const text = JSON.stringify(history).split(workflowId).join('<workflow id>').toLowerCase();
    const everyPayloadText = payloads.map((p) => unb64(p.data)).join('\n').toLowerCase();
    for (const secret of [email, firstName, 'Tester', PASSWORD]) {
      expect(text).not.toContain(secret.toLowerCase());
      expect(everyPayloadText).not.toContain(secret.toLowerCase());
    }
    encrypted = converted;
  });

  it('shows them through the codec endpoint, as the Web UI calls it', async () => {
    const decoded = await decodeThroughEndpoint(encrypted);
    expect(decoded).toContain(email);
    expect(decoded).toContain(firstName);
    expect(decoded).toContain('Tester');
  });

  it('shows them in `temporal workflow show --codec-endpoint`, with the operator key as --codec-auth', async () => {
    const cli = resolveTemporalCli();
    expect(cli).toBeDefined();
    const show = (...codecArgs: string[]) =>
      promisify(execFile)(cli!, ['workflow', 'show', '--address', process.env.TEMPORAL_ADDRESS!, '--namespace', 'default', '--workflow-id', workflowId, '--output', 'json', ...codecArgs], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_CONFIG_FILE: process.env.TEMPORAL_CONFIG_FILE },
        maxBuffer: 16 * 1024 * 1024,
      });
    const readable = async (stdout: string) => (await payloadsOf(JSON.parse(stdout))).map((p) => unb64(p.data)).join('\n') + stdout;
    const withCodec = await readable((await show('--codec-endpoint', `${service.baseUrl}/codec`, '--codec-auth', ADMIN)).stdout);
    expect(withCodec).toContain(email);
    expect(withCodec).toContain(firstName);
    const without = withoutSearchAttributes(JSON.parse((await show()).stdout));
    expect(JSON.stringify(without).split(workflowId).join('')).not.toContain(email);
  });

  it('replays with the service\'s data converter, as the deploy gate replays it', async () => {
    const history = await rawHistory(workflowId);
    expect(await replayFailures([{ file: workflowId, history }])).toEqual([]);
  });
});

describe('a trial\'s history', () => {
  it('holds its address only in the workflow ID and the search attributes', async () => {
    const email = uniqueEmail('codec-trial').toLowerCase();
    const res = await fetch(`${service.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
    expect(res.status).toBe(202);
    await waitForEmail(email, /Verify your email/);
    const workflowId = `trial/${email}`;
    const raw = await rawHistory(workflowId);
    const history = withoutSearchAttributes(raw);
    expect(JSON.stringify(history).split(workflowId).join('')).not.toContain(email);
    expect(JSON.stringify(raw)).toContain(b64(JSON.stringify(email)));
    expect(plainPlaces(await withoutMarkerBookkeeping(history))).toEqual([]);
    expect(await decodeThroughEndpoint(await convertedPayloadsOf(history))).toContain(email);
  });
});

describe('the codec endpoint', () => {
  const someEncrypted = async () => {
    const res = await codec('/codec/encode', { payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('"grace@example.com"') }] }, { Authorization: ADMIN });
    expect(res.status).toBe(200);
    return ((await res.json()) as { payloads: JsonPayload[] }).payloads;
  };

  it('encodes what it decodes (the Web UI encodes the input of a signal or update it sends)', async () => {
    const sealed = await someEncrypted();
    expect(unb64(sealed[0].metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(unb64(sealed[0].metadata!['encryption-key-id'])).toBe('test-2');
    const res = await codec('/codec/decode', { payloads: sealed }, { Authorization: ADMIN });
    expect(((await res.json()) as { payloads: JsonPayload[] }).payloads.map((p) => unb64(p.data))).toEqual(['"grace@example.com"']);
  });

  it('answers the Web UI\'s preflight with CORS for its origin, credentials included', async () => {
    const res = await fetch(`${service.baseUrl}/codec/${codecUiKey(process.env.ADMIN_TOKEN!)}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: UI_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace,authorization' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('x-namespace'));
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it.each([
    ['no operator key', '/codec/decode', {}, { payloads: [] }, 401],
    ['a wrong operator key', '/codec/decode', { Authorization: 'Bearer wrong-key-0123456789abcdef0123456789' }, { payloads: [] }, 403],
    ['a wrong key in the address', '/codec/not-the-key/decode', {}, { payloads: [] }, 403],
    ['another site\'s origin', '/codec/decode', { Authorization: ADMIN, Origin: 'https://evil.example' }, { payloads: [] }, 403],
    ['another namespace', '/codec/decode', { Authorization: ADMIN, 'X-Namespace': 'other' }, { payloads: [] }, 400],
    ['a body that is not JSON', '/codec/decode', { Authorization: ADMIN }, '{"payloads": [', 400],
    ['a body without payloads', '/codec/decode', { Authorization: ADMIN }, { items: [] }, 400],
    ['payloads that are not payloads', '/codec/decode', { Authorization: ADMIN }, { payloads: [{ data: 7 }] }, 400],
    ['data that is not base64', '/codec/encode', { Authorization: ADMIN }, { payloads: [{ metadata: { encoding: b64('json/plain') }, data: 'not base64!' }] }, 400],
    ['a payload of an unknown key', '/codec/decode', { Authorization: ADMIN }, { payloads: [{ metadata: { encoding: b64(ENCRYPTED_ENCODING), 'encryption-key-id': b64('retired') }, data: b64('x'.repeat(40)) }] }, 400],
    ['a payload that does not open', '/codec/decode', { Authorization: ADMIN }, { payloads: [{ metadata: { encoding: b64(ENCRYPTED_ENCODING), 'encryption-key-id': b64('test-2') }, data: b64('x'.repeat(40)) }] }, 400],
    ['a payload too short to be one', '/codec/decode', { Authorization: ADMIN }, { payloads: [{ metadata: { encoding: b64(ENCRYPTED_ENCODING), 'encryption-key-id': b64('test-2') } }] }, 400],
  ])('refuses %s with a 4xx and a JSON reason', async (_what, path, headers, body, status) => {
    const res = await codec(path, body, headers as Record<string, string>);
    expect(res.status).toBe(status);
    const answer = (await res.json()) as { reason: string };
    expect(answer.reason).toEqual(expect.any(String));
    expect(JSON.stringify(answer)).not.toMatch(/at .*\.ts:\d+/);
  });

  it('refuses other content types, other methods and oversized bodies with a JSON reason', async () => {
    const plain = await fetch(`${service.baseUrl}/codec/decode`, { method: 'POST', headers: { Authorization: ADMIN, 'Content-Type': 'text/plain' }, body: '{"payloads":[]}' });
    expect([plain.status, ((await plain.json()) as { reason: string }).reason]).toEqual([415, expect.any(String)]);
    const get = await fetch(`${service.baseUrl}/codec/decode`, { headers: { Authorization: ADMIN } });
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST, OPTIONS']);
    const big = await codec('/codec/decode', { payloads: [{ data: 'A'.repeat(5 * 1024 * 1024) }] }, { Authorization: ADMIN });
    expect([big.status, ((await big.json()) as { reason: string }).reason]).toEqual([413, 'Request body is too large.']);
  });

  it('passes plain payloads through on decode', async () => {
    const plain = { metadata: { encoding: b64('json/plain') }, data: b64('"plain"') };
    const res = await codec('/codec/decode', { payloads: [plain] }, { Authorization: ADMIN });
    expect(await res.json()).toEqual({ payloads: [plain] });
  });
});
