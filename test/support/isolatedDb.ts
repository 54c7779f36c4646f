import { Client } from 'pg';
import { migrateDatabase } from '../../src/deps';

/**
 * A fresh, migrated database on the suite's PostgreSQL server, for tests that
 * compare the whole database before and after (other test files write to the
 * shared one at the same time).
 */
export async function createIsolatedDatabase(name: string): Promise<string> {
  const base = new URL(process.env.DATABASE_URL!);
  const dbName = `${name}_${Date.now().toString(36)}`.replace(/[^a-z0-9_]/g, '_');
  const admin = new Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  base.pathname = `/${dbName}`;
  await migrateDatabase(base.toString());
  return base.toString();
}

/** Row count of every table: a fingerprint of the database's state. */
export async function tableCounts(databaseUrl: string): Promise<Record<string, number>> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' ORDER BY table_name`,
    );
    const counts: Record<string, number> = {};
    for (const { table_name } of rows) {
      const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${table_name}"`);
      counts[table_name] = Number(r.rows[0].n);
    }
    return counts;
  } finally {
    await client.end();
  }
}
