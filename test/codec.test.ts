// The payload codec on its own: AES-256-GCM with the key id in the payload,
// rotation, plain payloads passing through, and the keys' configuration.
import { ConfigError, loadConfig } from '../src/config';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA, parsePayloadKeys, PayloadDecodeError, PayloadKeys } from '../src/shared/codec';
import { defaultPayloadConverter } from '@temporalio/common';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const keys = (list: string, current?: string): PayloadKeys => {
  const parsed = parsePayloadKeys(list, current);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed;
};
const text = (bytes?: Uint8Array | null) => Buffer.from(bytes ?? []).toString('utf8');
const person = { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace' };

describe('EncryptionCodec', () => {
  it('encrypts a payload under the current key, naming it, and decrypts it to the same payload', async () => {
    const codec = new EncryptionCodec(keys(`k1:${key(1)}`));
    const plain = defaultPayloadConverter.toPayload(person);
    const [sealed] = await codec.encode([plain]);
    expect(text(sealed.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed.metadata?.[KEY_ID_METADATA])).toBe('k1');
    expect(text(sealed.data)).not.toMatch(/ada@example\.com|Lovelace/);
    const [opened] = await codec.decode([sealed]);
    expect(defaultPayloadConverter.fromPayload(opened)).toEqual(person);
    expect(text(opened.metadata?.encoding)).toBe('json/plain');
  });

  it('uses a fresh nonce each time: the same payload never encrypts alike', async () => {
    const codec = new EncryptionCodec(keys(`k1:${key(1)}`));
    const plain = defaultPayloadConverter.toPayload(person);
    const [a, b] = await codec.encode([plain, plain]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  it('rotates: payloads of the old key still open once a new key encrypts', async () => {
    const before = new EncryptionCodec(keys(`old:${key(1)}`));
    const [sealedByOld] = await before.encode([defaultPayloadConverter.toPayload(person)]);
    const after = new EncryptionCodec(keys(`old:${key(1)},new:${key(2)}`, 'new'));
    const [sealedByNew] = await after.encode([defaultPayloadConverter.toPayload(person)]);
    expect(text(sealedByNew.metadata?.[KEY_ID_METADATA])).toBe('new');
    const opened = await after.decode([sealedByOld, sealedByNew]);
    expect(opened.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([person, person]);
  });

  it('passes payloads of any other encoding through, as histories from before encryption hold', async () => {
    const codec = new EncryptionCodec(keys(`k1:${key(1)}`));
    const plain = defaultPayloadConverter.toPayload(person);
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('refuses a payload of a key it does not have, and one that was altered, with a reason', async () => {
    const [sealed] = await new EncryptionCodec(keys(`gone:${key(1)}`)).encode([defaultPayloadConverter.toPayload(person)]);
    const codec = new EncryptionCodec(keys(`k1:${key(1)}`));
    await expect(codec.decode([sealed])).rejects.toMatchObject({ code: 'unknown_key', message: expect.stringContaining('"gone"') });
    // The same key material under another id: the id is bound to the ciphertext.
    const renamed = { ...sealed, metadata: { ...sealed.metadata, [KEY_ID_METADATA]: Buffer.from('k1') } };
    await expect(codec.decode([renamed])).rejects.toBeInstanceOf(PayloadDecodeError);
    const [own] = await codec.encode([defaultPayloadConverter.toPayload(person)]);
    const altered = Buffer.from(own.data!);
    altered[20] ^= 1;
    await expect(codec.decode([{ ...own, data: altered }])).rejects.toMatchObject({ code: 'unreadable' });
    await expect(codec.decode([{ ...own, data: altered.subarray(0, 10) }])).rejects.toMatchObject({ code: 'unreadable' });
  });
});

describe('PAYLOAD_KEYS and PAYLOAD_KEY_ID', () => {
  const base = { TOKEN_SECRET: 's'.repeat(40), ADMIN_TOKEN: 'a'.repeat(40), DATA_DIR: '/tmp/flowgate-config-test' };
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
      return undefined;
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
  };

  it.each([
    [{ PAYLOAD_KEYS: 'k1' }, /^PAYLOAD_KEYS: every entry must be <id>:<base64 key>/],
    [{ PAYLOAD_KEYS: `k1:${Buffer.alloc(16).toString('base64')}` }, /^PAYLOAD_KEYS: key "k1" must be 32 bytes/],
    [{ PAYLOAD_KEYS: 'k1:not base64!' }, /^PAYLOAD_KEYS: key "k1" must be 32 bytes/],
    [{ PAYLOAD_KEYS: `k1:${key(1)},k1:${key(2)}` }, /^PAYLOAD_KEYS: key "k1" is listed twice/],
    [{ PAYLOAD_KEYS: ' , ' }, /^PAYLOAD_KEYS: lists no key/],
    [{ PAYLOAD_KEYS: `k1:${key(1)},k2:${key(2)}` }, /^PAYLOAD_KEY_ID: is required when PAYLOAD_KEYS lists more than one key/],
    [{ PAYLOAD_KEYS: `k1:${key(1)}`, PAYLOAD_KEY_ID: 'k9' }, /^PAYLOAD_KEY_ID: "k9" is not one of the keys/],
    [{ NODE_ENV: 'production' }, /^PAYLOAD_KEYS: is required when NODE_ENV=production/],
    [{ CODEC_CORS_ORIGINS: 'http://ui.example.com/path' }, /^CODEC_CORS_ORIGINS: .* is not an origin/],
  ])('%j is refused, naming the variable', (env, message) => {
    expect(problem(env)).toMatch(message);
  });

  it('never prints key material in its messages', () => {
    const secret = Buffer.alloc(16, 9).toString('base64');
    expect(problem({ PAYLOAD_KEYS: `k1:${secret}` })).not.toContain(secret);
  });

  it('takes the current key from PAYLOAD_KEY_ID, and the only key when there is one', () => {
    const two = loadConfig({ ...base, PAYLOAD_KEYS: `k1:${key(1)}, k2:${key(2)}`, PAYLOAD_KEY_ID: 'k2' }).payloadKeys;
    expect([two.current, [...two.keys.keys()]]).toEqual(['k2', ['k1', 'k2']]);
    expect(loadConfig({ ...base, PAYLOAD_KEYS: `k1:${key(1)}` }).payloadKeys.current).toBe('k1');
  });
});
