import crypto from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/**
 * Workflow and activity payloads (inputs, results, update and signal
 * arguments, failure messages) are encrypted before they reach Temporal, so
 * its history holds no email address or name in the clear. Every client and
 * worker of the service uses `payloadDataConverter`; operators read the
 * payloads through the codec endpoint (src/api/codec.ts).
 */

/** The keys payloads are encrypted with: `current` encrypts, every one decrypts (so a key can rotate). */
export interface PayloadKeys {
  current: string;
  keys: Map<string, Buffer>;
}

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A payload the codec cannot open: its key is not configured, or it was altered. The caller's fault, never a crash. */
export class PayloadDecodeError extends Error {
  constructor(
    readonly code: 'unknown_key' | 'unreadable',
    message: string,
  ) {
    super(message);
    this.name = 'PayloadDecodeError';
  }
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** AES-256-GCM; the key id is in the metadata and, as additional data, bound to the ciphertext. */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keys: PayloadKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keys.current;
    const key = this.keys.keys.get(keyId)!;
    return payloads.map((payload) => {
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv(CIPHER, key, iv);
      cipher.setAAD(Buffer.from(keyId));
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: utf8.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8.encode(keyId) }, data: sealed };
    });
  }

  /** Payloads in any other encoding pass through: histories from before encryption still replay and show. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.encoding;
      if (!encoding || text.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      const keyId = idBytes ? text.decode(idBytes) : '';
      const key = this.keys.keys.get(keyId);
      if (!key) throw new PayloadDecodeError('unknown_key', `The payload was encrypted with key "${keyId.slice(0, 64)}", which is not configured (PAYLOAD_KEYS).`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecodeError('unreadable', 'The encrypted payload is too short.');
      try {
        const decipher = crypto.createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(keyId));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        const inner = temporal.api.common.v1.Payload.decode(plain);
        return { metadata: inner.metadata, data: inner.data };
      } catch {
        throw new PayloadDecodeError('unreadable', 'The encrypted payload does not open with its key: it was altered or is not ours.');
      }
    });
  }
}

/** Failure messages and stack traces go into an encoded payload too (a message may name an address). */
export const FAILURE_CONVERTER_PATH = require.resolve('./failureConverter');

/** What every client, worker and replayer of the service is given. */
export function payloadDataConverter(keys: PayloadKeys): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/**
 * PAYLOAD_KEYS is `id:base64key,id:base64key`, each key 32 bytes
 * (`openssl rand -base64 32`); PAYLOAD_KEY_ID names the one that encrypts.
 * Returns a problem in words, or the keys.
 */
export function parsePayloadKeys(list: string, currentId: string | undefined): PayloadKeys | { problem: string; variable: string } {
  const keys = new Map<string, Buffer>();
  for (const entry of list.split(',').map((e) => e.trim()).filter(Boolean)) {
    const at = entry.indexOf(':');
    const id = at > 0 ? entry.slice(0, at) : '';
    if (!KEY_ID_PATTERN.test(id)) return { variable: 'PAYLOAD_KEYS', problem: 'every entry must be <id>:<base64 key>, the id 1 to 64 letters, digits, dots, dashes or underscores' };
    const material = entry.slice(at + 1);
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(material) ? Buffer.from(material, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) return { variable: 'PAYLOAD_KEYS', problem: `key "${id}" must be 32 bytes in base64 (openssl rand -base64 32)` };
    if (keys.has(id)) return { variable: 'PAYLOAD_KEYS', problem: `key "${id}" is listed twice` };
    keys.set(id, key);
  }
  if (keys.size === 0) return { variable: 'PAYLOAD_KEYS', problem: 'lists no key' };
  if (!currentId) {
    if (keys.size > 1) return { variable: 'PAYLOAD_KEY_ID', problem: 'is required when PAYLOAD_KEYS lists more than one key: it names the one that encrypts' };
    return { current: [...keys.keys()][0], keys };
  }
  if (!keys.has(currentId)) return { variable: 'PAYLOAD_KEY_ID', problem: `"${currentId.slice(0, 64)}" is not one of the keys in PAYLOAD_KEYS` };
  return { current: currentId, keys };
}

/** A new development key entry for PAYLOAD_KEYS. */
export function newPayloadKeyEntry(id = 'dev1'): string {
  return `${id}:${crypto.randomBytes(32).toString('base64')}`;
}

/**
 * Every payload in a history (or any message as JSON), in place: objects
 * shaped like a payload ({metadata, data} with base64 strings, as proto JSON
 * writes them) are handed to `visit`, whose answer replaces them.
 */
export async function mapJsonPayloads(value: unknown, visit: (payload: JsonPayload) => Promise<JsonPayload>): Promise<unknown> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = await mapJsonPayloads(value[i], visit);
    return value;
  }
  if (!value || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (isJsonPayload(record)) return visit(record);
  for (const key of Object.keys(record)) record[key] = await mapJsonPayloads(record[key], visit);
  return record;
}

/** A payload as proto JSON writes it: metadata values and data in base64. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
  [other: string]: unknown;
}

function isJsonPayload(value: Record<string, unknown>): value is JsonPayload {
  const metadata = value.metadata as Record<string, unknown> | undefined;
  return !!metadata && typeof metadata === 'object' && typeof metadata.encoding === 'string' && (value.data === undefined || typeof value.data === 'string');
}

export function fromJsonPayload(payload: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value, 'base64');
  return { metadata, data: Buffer.from(payload.data ?? '', 'base64') };
}

export function toJsonPayload(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value).toString('base64');
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

/** A history as JSON with every encrypted payload opened (recorded histories stay readable and need no key to replay). */
export async function decodeJsonHistory<T>(history: T, codec: PayloadCodec): Promise<T> {
  return (await mapJsonPayloads(history, async (payload) => {
    const [decoded] = await codec.decode([fromJsonPayload(payload)]);
    return toJsonPayload(decoded);
  })) as T;
}
