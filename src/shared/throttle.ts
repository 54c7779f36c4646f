import type { Db } from './db';

/**
 * Back-off for password guesses, shared by every sign-in endpoint and every
 * API process (the counts live in PostgreSQL). Attempts are counted per
 * account, whichever of its names (username or email) was typed; a name no
 * account has is counted by its text, so the answers never tell the two
 * apart. Each count has free attempts, then a delay that doubles with each
 * further failure. An attempt from an unknown device meets three counts:
 *
 * - one account from one client: 5 free, then 30 s, 1 min, 2 min ... up to
 *   15 minutes: a guesser at one account is slowed to a crawl;
 * - one client, any account: 50 free (an office behind one address), then
 *   the same: a guesser trying many accounts is too;
 * - one account, any client: 10 free, then 15 s, 30 s, at most 1 minute:
 *   guesses spread over many addresses are slowed.
 *
 * The last one would let a stranger who keeps guessing keep the owner out a
 * minute at a time. So, as OWASP's device cookies do, a browser where the
 * account signed in before carries a signed device token for that account
 * (auth.ts); an attempt with it meets only its own count (one device, one
 * account: 5 free, then as the first), never the others, and a stranger's
 * guesses do not reach it.
 *
 * Failures older than 15 minutes are forgotten. A successful sign-in clears
 * its own count (account and client, or device) and takes back the attempt.
 */
const FORGET_AFTER_MS = 15 * 60_000;

interface Rule {
  key: string;
  free: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

/** What an attempt is at: an account (by id, whichever name was typed), or a name no account has (by its text). */
export type SignInTarget = { accountId: number } | { name: string };

/** Where an attempt comes from: the client's address, and the device it proved (the id in its device token for this account), if any. */
export interface SignInOrigin {
  client: string;
  device?: string;
}

function rules(target: SignInTarget, { client, device }: SignInOrigin): Rule[] {
  const who = 'accountId' in target ? `account:${target.accountId}` : `name:${target.name}`;
  const perDevice = { free: 5, firstDelayMs: 30_000, maxDelayMs: 15 * 60_000 };
  if (device) return [{ key: `device:${device}|${who}`, ...perDevice }];
  return [
    { key: `login-client:${who}|${client}`, ...perDevice },
    { key: `client:${client}`, free: 50, firstDelayMs: 30_000, maxDelayMs: 15 * 60_000 },
    { key: `login:${who}`, free: 10, firstDelayMs: 15_000, maxDelayMs: 60_000 },
  ];
}

function delayMs(failures: number, rule: Rule): number {
  if (failures < rule.free) return 0;
  return Math.min(rule.firstDelayMs * 2 ** (failures - rule.free), rule.maxDelayMs);
}

export type Reservation = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Before a password is checked: refuses while any count says wait, else
 * counts this attempt as a failure. Attempts on the same keys are taken one
 * at a time (advisory locks), so simultaneous guesses cannot all slip through.
 */
export async function reserveSignInAttempt(db: Db, target: SignInTarget, origin: SignInOrigin, at?: Date): Promise<Reservation> {
  const applicable = rules(target, origin);
  return db.$transaction(async (tx) => {
    for (const key of applicable.map((r) => r.key).sort()) await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${key}))`;
    // The attempt's time is when its turn comes, so the failures it reads are all older than it.
    const now = at ?? new Date();
    const rows = new Map((await tx.signInThrottle.findMany({ where: { key: { in: applicable.map((r) => r.key) } } })).map((r) => [r.key, r]));
    let waitMs = 0;
    const failures = new Map<string, number>();
    for (const rule of applicable) {
      const row = rows.get(rule.key);
      const recent = row && now.getTime() - row.lastFailureAt.getTime() < FORGET_AFTER_MS ? row.failures : 0;
      failures.set(rule.key, recent);
      if (row && recent > 0) waitMs = Math.max(waitMs, row.lastFailureAt.getTime() + delayMs(recent, rule) - now.getTime());
    }
    if (waitMs > 0) return { allowed: false as const, retryAfterSeconds: Math.ceil(waitMs / 1000) };
    for (const rule of applicable) {
      const data = { failures: failures.get(rule.key)! + 1, lastFailureAt: now };
      await tx.signInThrottle.upsert({ where: { key: rule.key }, create: { key: rule.key, ...data }, update: data });
    }
    return { allowed: true as const };
    // A burst queues for the locks and for the pool's connections: it waits its turn rather than failing after Prisma's 2 s default.
  }, { maxWait: 15_000, timeout: 15_000 });
}

/** After a right password: the attempt counted in advance is taken back, and the attempt's own count (account and client, or device) cleared. */
export async function settleSuccessfulSignIn(db: Db, target: SignInTarget, origin: SignInOrigin): Promise<void> {
  const [own, ...others] = rules(target, origin);
  await db.$transaction([
    db.signInThrottle.deleteMany({ where: { key: own.key } }),
    db.signInThrottle.updateMany({ where: { key: { in: others.map((r) => r.key) }, failures: { gt: 0 } }, data: { failures: { decrement: 1 } } }),
  ]);
}
