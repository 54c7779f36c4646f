import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../src/generated/prisma/client';
import { poolThatTakesBackDeadConnections } from '../src/shared/db';

/** `work`, or `late` once `ms` have passed. */
async function within<T, L>(ms: number, work: Promise<T>, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<L>((resolve) => (timer = setTimeout(() => resolve(late), ms)));
  return Promise.race([work, gaveUp]).finally(() => clearTimeout(timer));
}

/**
 * PostgreSQL goes away in the middle of a transaction (a restart, a
 * failover): the pool must get that connection back, or each such
 * transaction keeps one of its connections for good.
 */
describe('a transaction whose connection dies', () => {
  const url = process.env.DATABASE_URL!;

  it('gives its connection back: the pool neither runs dry nor keeps the client from closing', async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    // A pool of two connections: two connections kept by failed transactions would leave none.
    const db = new PrismaClient({ adapter: new PrismaPg(poolThatTakesBackDeadConnections(url, { max: 2 }), { disposeExternalPool: true }) });
    try {
      for (let i = 0; i < 3; i++) {
        const transaction = db
          .$transaction(async (tx) => {
            const [{ pid }] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
            await admin.query('SELECT pg_terminate_backend($1)', [pid]);
            await tx.$queryRaw`SELECT 1`;
          })
          .then(() => 'committed', () => 'failed');
        expect(await within(5000, transaction, 'waited for a connection')).toBe('failed');
      }
      // Every connection is back: a query runs.
      expect(await within(5000, db.$queryRaw<{ one: number }[]>`SELECT 1 AS one`, 'no connection came back to the pool')).toEqual([{ one: 1 }]);
    } finally {
      const closed = await within(5000, db.$disconnect().then(() => 'closed'), 'still waiting for lent connections');
      await admin.end();
      expect(closed).toBe('closed');
    }
  });
});
