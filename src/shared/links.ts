/**
 * Links that go out in mail. A caller may name where a link points (Synapse's
 * `portalEndpoint`, `acceptInvitationEndpoint`, ...), but only to one of the
 * endpoints configured for that kind of link, written exactly in the form a
 * URL parser gives back: a value that a parser would silently change (tab,
 * CR, LF, backslash, case, `..`, userinfo, Unicode) could mean one thing when
 * checked and another once mailed.
 */

/** The kinds of caller-supplied link endpoints, each with its own list of allowed values. */
export const LINK_KINDS = ['acceptInvitation', 'accountCreation', 'inviteeVerification', 'notificationUnsubscribe'] as const;
export type LinkKind = (typeof LINK_KINDS)[number];

const MAX_URL_LENGTH = 2048;

/** Why `value` is not a URL in normal form (http or https, no userinfo), or undefined when it is one. */
export function urlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'is not a URL.';
  if (value.length > MAX_URL_LENGTH) return `is longer than ${MAX_URL_LENGTH} characters.`;
  // Visible ASCII only: whitespace, control characters and raw Unicode (IDN hosts come punycoded) are refused.
  if (!/^[\x21-\x7e]+$/.test(value)) return 'must not contain whitespace, control characters or non-ASCII characters.';
  if (value.includes('\\')) return 'must not contain backslashes.';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL.';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http(s) URL.';
  if (url.username || url.password) return 'must not contain a user name or password.';
  if (url.href !== value) return `is not in normal form (it reads as ${url.href}).`;
  return undefined;
}

/**
 * The endpoint a caller asked for, when it is one of the allowed ones; the
 * default when the caller named none. Throws `LinkEndpointError` otherwise.
 */
export function chooseLinkEndpoint(allowed: readonly string[], requested: unknown, fallback: string): string {
  if (requested === undefined || requested === '') return fallback;
  const problem = urlProblem(requested);
  if (problem) throw new LinkEndpointError(problem);
  if (requested !== fallback && !allowed.includes(requested as string)) {
    throw new LinkEndpointError(`must be one of: ${[fallback, ...allowed.filter((a) => a !== fallback)].join(', ')}.`);
  }
  return requested as string;
}

/** A refused link endpoint; the message completes "<parameter> ...". */
export class LinkEndpointError extends Error {
  constructor(readonly problem: string) {
    super(problem);
    this.name = 'LinkEndpointError';
  }
}

/**
 * What an activity puts in a mail: the endpoint the workflow carries when it
 * is still allowed, else the default. Runs that were started before a list
 * changed, or from older code, never mail an endpoint that is not allowed now.
 */
export function mailableEndpoint(allowed: readonly string[], carried: string | undefined, fallback: string): string {
  if (carried && (carried === fallback || allowed.includes(carried)) && !urlProblem(carried)) return carried;
  return fallback;
}

/**
 * A host name with an optional port, as a link or a redirect may be built
 * from (e.g. `chat.example.com` or `localhost:9991`): letters, digits,
 * hyphens and dots only, so it cannot carry a path, userinfo or a second host.
 */
export function isHostName(value: string): boolean {
  const match = /^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)(?::(\d{1,5}))?$/.exec(value);
  return !!match && match[1].length <= 253 && (match[2] === undefined || Number(match[2]) <= 65535);
}

/*
 * ---- Dead links ----
 * Every emailed link, whatever its flow, is read the same way: it opens what
 * it stands for, or it is unknown (forged, cut off, never issued), expired
 * (or withdrawn, or replaced by a newer link), or used. One page tells the
 * person which, and what to do instead.
 */
export type DeadLinkState = 'unknown' | 'expired' | 'used';

export class DeadLink extends Error {
  constructor(
    readonly state: DeadLinkState,
    /** What happened, in the person's words: "This invitation was withdrawn by the team." */
    reason: string,
    /** What to do instead, with an optional link: "Ask for a new free trial link." */
    readonly next?: { text: string; href?: string; label?: string },
    /** Where a client relies on another answer than 404/410 and the state's title (Zulip's texts), that answer. */
    readonly answer?: { status?: number; title?: string },
  ) {
    super(reason);
    this.name = 'DeadLink';
  }
}
