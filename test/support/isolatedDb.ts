import { Client } from 'pg';
import { msToTs } from '@temporalio/common/lib/time';
import { connectTemporal, migrateDatabase, registerSearchAttributes } from '../../src/deps';

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

/**
 * A fresh database with a Temporal namespace of its own. Workflow IDs carry
 * database ids (e.g. `membership-invitation/1`), so a second database on the
 * suite's shared namespace would reach other test files' workflows.
 */
export async function createIsolatedEnvironment(name: string): Promise<{ DATABASE_URL: string; TEMPORAL_NAMESPACE: string }> {
  const databaseUrl = await createIsolatedDatabase(name);
  const namespace = new URL(databaseUrl).pathname.slice(1);
  const client = await connectTemporal(process.env.TEMPORAL_ADDRESS!, 'default');
  try {
    await client.connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    // The namespace is usable once it can be described (registration is asynchronous).
    for (const deadline = Date.now() + 15_000; ; ) {
      try {
        await client.connection.workflowService.describeNamespace({ namespace });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await registerSearchAttributes(client.connection as Parameters<typeof registerSearchAttributes>[0], namespace);
  } finally {
    await client.connection.close();
  }
  return { DATABASE_URL: databaseUrl, TEMPORAL_NAMESPACE: namespace };
}
