import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;
export { Prisma } from '../generated/prisma/client';

export function createDb(databaseUrl: string): Db {
  return new PrismaClient({ adapter: new PrismaPg(poolThatTakesBackDeadConnections(databaseUrl), { disposeExternalPool: true }) });
}

type Acquired = (err: Error | undefined, client?: pg.PoolClient, done?: (release?: Error | boolean) => void) => void;

/**
 * A connection pool that takes back a lent connection as soon as it dies.
 * Prisma's transactions send ROLLBACK (or COMMIT) before they hand their
 * connection back; when PostgreSQL went away mid-transaction (a restart, a
 * failover), that statement fails and the connection is never handed back,
 * so every such transaction would hold one of the pool's connections for
 * good, until none is left and every query waits. Here a lent connection
 * that ends or fails is released at once, as broken (the pool closes it),
 * and a later release of it does nothing.
 */
export function poolThatTakesBackDeadConnections(connectionString: string, options: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString, ...options });
  const acquire = pool.connect.bind(pool) as unknown as (callback?: Acquired) => Promise<pg.PoolClient> | void;
  const lend = (client: pg.PoolClient): pg.PoolClient => {
    const release = client.release;
    let released = false;
    const onGone = (err?: Error) => giveBack(err ?? new Error('the connection ended while lent'));
    const giveBack = (err?: Error | boolean) => {
      if (released) return;
      released = true;
      client.removeListener('error', onGone);
      client.removeListener('end', onGone);
      release(err);
    };
    client.on('error', onGone);
    client.once('end', onGone);
    client.release = giveBack;
    return client;
  };
  // Both of pg's forms: the adapter awaits a client; pool.query() passes a callback.
  (pool as unknown as { connect: (callback?: Acquired) => unknown }).connect = (callback?: Acquired) => {
    if (!callback) return (acquire() as Promise<pg.PoolClient>).then(lend);
    return acquire((err, client) => {
      if (err || !client) return callback(err, client);
      const lent = lend(client);
      callback(undefined, lent, lent.release);
    });
  };
  return pool;
}

/** Postgres' unique-violation, as Prisma reports it: used to make inserts idempotent. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'P2002';
}

/** Prisma's codes for a server it cannot reach, that timed out or closed the connection. */
const UNREACHABLE = new Set(['P1001', 'P1002', 'P1008', 'P1017']);
/** The PostgreSQL adapter's kinds of the same, and of a server out of connections. */
const UNREACHABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/**
 * The database is down, restarting or unreachable: nothing the request did,
 * and the same request may succeed in a moment (PostgreSQL's SQLSTATE class
 * 08 is a connection failure, 57P01 to 57P03 a server shutting down or
 * starting up).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: unknown; message?: unknown; meta?: { driverAdapterError?: { cause?: { kind?: string; code?: string } } } } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'PrismaClientInitializationError') return true;
  if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return true;
  const cause = e.meta?.driverAdapterError?.cause;
  if (cause?.kind && UNREACHABLE_KINDS.has(cause.kind)) return true;
  if (cause?.kind === 'postgres' && /^(08|57P0[1-3])/.test(cause.code ?? '')) return true;
  // The driver's own word when the server went away mid-query.
  return typeof e.message === 'string' && /^Connection terminated/.test(e.message);
}
