import crypto from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * Signed tokens: a flat JSON object whose `hmac` field is HMAC-SHA256 over
 * every other field plus the token's type. The type is not carried in the
 * token (Synapse's token shapes have no such field) but bound by the MAC, so
 * a token of one type never verifies as another.
 */
export type TokenFields = Record<string, string | number | boolean | null>;
export type Signed<T extends TokenFields> = T & { hmac: string };

export type TokenProblem = 'malformed' | 'invalid' | 'expired' | 'mismatch';

export class TokenError extends Error {
  constructor(
    readonly problem: TokenProblem,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface VerifyOptions<T> {
  /** Fields that must equal these values: binds a token to one invitation, realm, user. */
  bind?: Partial<T>;
  now?: Date;
}

/** Fields named like this are read as the token's expiry. */
const EXPIRY_FIELDS = ['expiresOn', 'expiresAt', 'exp'];
const MAX_SERIALIZED = 4096;

function canonical(type: string, fields: TokenFields): string {
  const keys = Object.keys(fields)
    .filter((k) => k !== 'hmac')
    .sort();
  return JSON.stringify([type, ...keys.map((k) => [k, fields[k]])]);
}

function mac(secret: string, type: string, fields: TokenFields): Buffer {
  return crypto.createHmac('sha256', secret).update(canonical(type, fields)).digest();
}

export class TokenSigner {
  private readonly secrets: string[];

  /** `previous` secrets still verify, so a secret can be rotated without breaking sent links. */
  constructor(current: string, previous: string[] = []) {
    if (!current) throw new Error('TokenSigner needs a secret');
    this.secrets = [current, ...previous];
  }

  sign<T extends TokenFields>(type: string, fields: T): Signed<T> {
    const { hmac: _ignored, ...rest } = fields as T & { hmac?: string };
    return { ...(rest as T), hmac: mac(this.secrets[0], type, rest as TokenFields).toString('base64url') };
  }

  /** Returns the token's fields when MAC, expiry and binding all hold; throws TokenError otherwise. */
  verify<T extends TokenFields>(type: string, token: unknown, options: VerifyOptions<T> = {}): Signed<T> {
    if (!isFlatObject(token) || typeof token.hmac !== 'string') {
      throw new TokenError('malformed', 'The token is not in the expected format.');
    }
    const given = Buffer.from(token.hmac, 'base64url');
    // One spelling per MAC: Node's decoder skips stray characters and ignores the
    // last character's spare bits. Only the attacker's own string is compared here.
    if (given.toString('base64url') !== token.hmac) throw new TokenError('invalid', 'The token signature is not valid.');
    const valid = this.secrets.some((secret) => {
      const expected = mac(secret, type, token);
      // Length is not secret; the comparison of equal-length MACs is constant time.
      return given.length === expected.length && crypto.timingSafeEqual(given, expected);
    });
    if (!valid) throw new TokenError('invalid', 'The token signature is not valid.');

    const now = (options.now ?? new Date()).getTime();
    for (const field of EXPIRY_FIELDS) {
      if (!(field in token)) continue;
      const value = token[field];
      const expiresAt = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
      if (!Number.isFinite(expiresAt)) throw new TokenError('malformed', `The token's ${field} is not a date.`);
      if (expiresAt <= now) throw new TokenError('expired', 'The token has expired.');
    }
    for (const [key, value] of Object.entries(options.bind ?? {})) {
      if (String(token[key]) !== String(value)) {
        throw new TokenError('mismatch', `The token was issued for another ${key}.`);
      }
    }
    return token as Signed<T>;
  }

  /** Token -> URL-safe string (base64url JSON), as it travels in links. */
  static serialize(token: TokenFields): string {
    return Buffer.from(JSON.stringify(token)).toString('base64url');
  }

  /** URL-safe string -> untrusted object; verify() decides if it is a token. */
  static parse(serialized: unknown): unknown {
    if (typeof serialized !== 'string' || serialized.length === 0 || serialized.length > MAX_SERIALIZED) {
      throw new TokenError('malformed', 'The token is not in the expected format.');
    }
    if (!/^[A-Za-z0-9_-]+$/.test(serialized)) {
      throw new TokenError('malformed', 'The token is not in the expected format.');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(serialized, 'base64url').toString('utf8'));
    } catch {
      throw new TokenError('malformed', 'The token is not in the expected format.');
    }
    // A token has one spelling, the one serialize() wrote: a link is known by its
    // string (its hash keys single use), so spare bits or spacing must not make another.
    if (TokenSigner.serialize(parsed as TokenFields) !== serialized) {
      throw new TokenError('malformed', 'The token is not in the expected format.');
    }
    return parsed;
  }

  parseAndVerify<T extends TokenFields>(type: string, serialized: unknown, options?: VerifyOptions<T>): Signed<T> {
    return this.verify<T>(type, TokenSigner.parse(serialized), options);
  }
}

function isFlatObject(value: unknown): value is TokenFields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return Object.values(value).every((v) => v === null || ['string', 'number', 'boolean'].includes(typeof v));
}

/** An unguessable single-use key for links whose state lives in the database. */
export function randomKey(bytes = 24): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** Only this hash of a single-use key is stored, so a database leak yields no working links. */
export function hashKey(key: string): string {
  return crypto.createHash('sha256').update(key).digest('hex');
}

/** Constant-time comparison of two secrets of any length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb) && a.length === b.length;
}

/*
 * ---- Tokens for third parties: JWTs signed with Ed25519 ----
 * A party that must verify our tokens (the app that embeds a trial's small
 * app) gets a public key, never a secret: holding it lets it verify, not
 * sign. The key pair is derived from TOKEN_SECRET with HKDF (its own purpose
 * label), so every API process has it without more configuration, and each
 * previous secret still publishes the key it signed with.
 */

// An Ed25519 private key in PKCS#8 DER is this prefix followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

interface KeyPair {
  kid: string;
  privateKey: crypto.KeyObject;
  jwk: crypto.JsonWebKey;
}

function derivedKeyPair(secret: string, purpose: string): KeyPair {
  const seed = Buffer.from(crypto.hkdfSync('sha256', secret, 'flowgate', `${purpose}/ed25519`, 32));
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
  const kid = crypto.createHash('sha256').update(String(jwk.x)).digest('base64url').slice(0, 16);
  return { kid, privateKey, jwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' } };
}

export class PublicKeySigner {
  private readonly pairs: KeyPair[];

  constructor(
    readonly purpose: string,
    current: string,
    previous: string[] = [],
  ) {
    this.pairs = [current, ...previous].map((secret) => derivedKeyPair(secret, purpose));
  }

  /** A compact JWT (EdDSA) with these claims; `expiresAt` in ms. */
  async sign(claims: Record<string, unknown>, options: { subject: string; audience: string; issuer: string; expiresAt: number }): Promise<string> {
    const [current] = this.pairs;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: current.kid, typ: 'JWT' })
      .setSubject(options.subject)
      .setAudience(options.audience)
      .setIssuer(options.issuer)
      .setIssuedAt()
      .setExpirationTime(Math.floor(options.expiresAt / 1000))
      .sign(current.privateKey);
  }

  /** The public keys as a JWK Set, for /.well-known/jwks.json. */
  jwks(): { keys: crypto.JsonWebKey[] } {
    return { keys: this.pairs.map((p) => p.jwk) };
  }
}
