import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;
export { Prisma } from '../generated/prisma/client';

export function createDb(databaseUrl: string): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
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
