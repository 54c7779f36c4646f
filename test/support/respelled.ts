const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A base64url string with its last character's lowest bit flipped: where the
 * length leaves spare bits (a 32-byte MAC's 43 characters), a lenient decoder
 * reads the same bytes from it; an attacker's other spelling of a token.
 */
export function respelled(s: string): string {
  return s.slice(0, -1) + BASE64URL[BASE64URL.indexOf(s.at(-1)!) ^ 1];
}
