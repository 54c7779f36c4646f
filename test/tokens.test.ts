import { TokenSigner, TokenError, randomKey, hashKey, safeEqual } from '../src/shared/tokens';
import { respelled } from './support/respelled';

const signer = new TokenSigner('current-secret-0123456789abcdef0123');
const inOneHour = () => new Date(Date.now() + 3600_000).toISOString();

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    return (err as TokenError).problem;
  }
  throw new Error('expected the token to be refused');
}

describe('signed tokens', () => {
  it('round-trips through a link and keeps every field', () => {
    const token = signer.sign('membership-invitation', { membershipInvitationId: '7', expiresOn: inOneHour(), createdOn: new Date().toISOString() });
    const serialized = TokenSigner.serialize(token);
    expect(serialized).toMatch(/^[A-Za-z0-9_-]+$/);
    const verified = signer.parseAndVerify('membership-invitation', serialized, { bind: { membershipInvitationId: '7' } });
    expect(verified).toEqual(token);
  });

  it('refuses a token with any field changed', () => {
    const token = signer.sign('membership-invitation', { membershipInvitationId: '7', expiresOn: inOneHour() });
    expect(refusal(() => signer.verify('membership-invitation', { ...token, membershipInvitationId: '8' }))).toBe('invalid');
    expect(refusal(() => signer.verify('membership-invitation', { ...token, extra: 'x' }))).toBe('invalid');
    // A whole character of the MAC, not the last one, whose spare bits carry nothing.
    const flipped = token.hmac.slice(0, 10) + (token.hmac[10] === 'A' ? 'B' : 'A') + token.hmac.slice(11);
    expect(refusal(() => signer.verify('membership-invitation', { ...token, hmac: flipped }))).toBe('invalid');
  });

  it('accepts each token in the one spelling it was issued in, no other', () => {
    const token = signer.sign('membership-invitation', { membershipInvitationId: '7', expiresOn: inOneHour() });
    const serialized = TokenSigner.serialize(token);
    expect(signer.parseAndVerify('membership-invitation', serialized)).toEqual(token);
    // The same MAC bytes, spelled otherwise: Node's decoder would read each of them as the genuine MAC.
    for (const hmac of [respelled(token.hmac), token.hmac + '=', `${token.hmac.slice(0, 5)}.${token.hmac.slice(5)}`, ` ${token.hmac}`]) {
      expect(Buffer.from(hmac, 'base64url').equals(Buffer.from(token.hmac, 'base64url'))).toBe(true);
      expect(refusal(() => signer.verify('membership-invitation', { ...token, hmac }))).toBe('invalid');
    }
    // The same token in another link: padding, spare bits, JSON with spaces; each decodes to the genuine token.
    const spaced = Buffer.from(JSON.stringify(token, null, 1)).toString('base64url');
    const withSpareBits = serialized.length % 4 === 0 ? Buffer.from(JSON.stringify(token) + ' ').toString('base64url') : respelled(serialized);
    for (const link of [serialized + '=', withSpareBits, spaced]) {
      expect(link).not.toBe(serialized);
      expect(refusal(() => signer.parseAndVerify('membership-invitation', link))).toBe('malformed');
    }
  });

  it('refuses an expired token even with a valid MAC', () => {
    const token = signer.sign('membership-invitation', { membershipInvitationId: '7', expiresOn: new Date(Date.now() - 1000).toISOString() });
    expect(refusal(() => signer.verify('membership-invitation', token))).toBe('expired');
  });

  it('refuses a token of another type', () => {
    const token = signer.sign('email-validation', { email: 'a@b.c', expiresOn: inOneHour() });
    expect(refusal(() => signer.verify('membership-invitation', token))).toBe('invalid');
  });

  it('refuses a token bound to another object', () => {
    const token = signer.sign('membership-invitation', { membershipInvitationId: '7', expiresOn: inOneHour() });
    expect(refusal(() => signer.verify('membership-invitation', token, { bind: { membershipInvitationId: '8' } }))).toBe('mismatch');
  });

  it('verifies tokens signed with a previous secret, and only those', () => {
    const old = new TokenSigner('old-secret-0123456789abcdef012345678');
    const token = old.sign('t', { id: '1', expiresOn: inOneHour() });
    expect(new TokenSigner('new-secret-0123456789abcdef012345678', ['old-secret-0123456789abcdef012345678']).verify('t', token).id).toBe('1');
    expect(refusal(() => new TokenSigner('new-secret-0123456789abcdef012345678').verify('t', token))).toBe('invalid');
  });

  it('refuses malformed input of every shape', () => {
    for (const input of [undefined, null, '', 'not base64!', 'e30', 'W10', '!!!', 'x'.repeat(5000), TokenSigner.serialize({ hmac: 'x', nested: 'y' }).slice(0, 5)]) {
      expect(['malformed', 'invalid']).toContain(refusal(() => signer.parseAndVerify('t', input)));
    }
    for (const input of [[], 'string', 42, { hmac: 1 }, { a: { b: 1 }, hmac: 'x' }]) {
      expect(refusal(() => signer.verify('t', input))).toBe('malformed');
    }
    const token = signer.sign('t', { id: '1', expiresOn: 'not a date' });
    expect(refusal(() => signer.verify('t', token))).toBe('malformed');
  });

  it('makes random keys whose stored hash does not reveal them', () => {
    const a = randomKey();
    expect(a).not.toEqual(randomKey());
    expect(hashKey(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashKey(a)).not.toContain(a);
    expect(safeEqual(a, a)).toBe(true);
    expect(safeEqual(a, a + 'x')).toBe(false);
  });
});
