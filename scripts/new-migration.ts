// Writes a new migration from the change to prisma/schema.
//   npm run migration:new -- <name> [<schema file>]
// With a schema file (e.g. prisma/schema/trial.prisma) only that file's change
// since the last commit is migrated, so flows can add migrations independently.
// Prisma's `migrate dev` needs a shadow database that the pg adapter cannot
// give it; `migrate diff` between two schema versions does the same job.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/dev/postgres';
import { isPortFree } from '../src/dev/process';

async function main() {
  const [name, file] = process.argv.slice(2);
  if (!name || !/^[a-z0-9_]+$/.test(name)) throw new Error('usage: npm run migration:new -- <snake_case_name> [prisma/schema/<file>.prisma]');
  const root = path.resolve(__dirname, '..');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-migration-'));
  fs.chmodSync(tmp, 0o755); // PostgreSQL runs as its own user when we are root
  const fromDir = path.join(tmp, 'from');
  fs.mkdirSync(fromDir);
  const schemaDir = path.join(root, 'prisma', 'schema');
  for (const f of fs.readdirSync(schemaDir)) {
    const rel = path.join('prisma', 'schema', f);
    if (file ? path.resolve(file) !== path.join(schemaDir, f) : true) {
      if (file) fs.copyFileSync(path.join(schemaDir, f), path.join(fromDir, f));
      else copyFromHead(root, rel, path.join(fromDir, f));
    } else {
      copyFromHead(root, rel, path.join(fromDir, f));
    }
  }
  let databaseUrl = process.env.DATABASE_URL;
  let stop = async () => undefined as void;
  if (!databaseUrl) {
    let port = 55432;
    while (!(await isPortFree(port))) port++;
    const pg = await startEmbeddedPostgres(path.join(tmp, 'pg'), port);
    databaseUrl = pg.url;
    stop = pg.stop;
  }
  try {
    const hasFrom = fs.readdirSync(fromDir).some((f) => fs.readFileSync(path.join(fromDir, f), 'utf8').includes('datasource'));
    const from = hasFrom ? ['--from-schema-datamodel', fromDir] : ['--from-empty'];
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'prisma.mjs'), 'migrate', 'diff', ...from, '--to-schema-datamodel', schemaDir, '--script'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr || r.stdout);
    const sql = r.stdout.trim();
    if (!sql || sql === '-- This is an empty migration.') {
      console.log('no schema change to migrate');
      return;
    }
    const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
    const dir = path.join(root, 'prisma', 'migrations', `${stamp}_${name}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'migration.sql'), sql + '\n');
    const lock = path.join(root, 'prisma', 'migrations', 'migration_lock.toml');
    if (!fs.existsSync(lock)) fs.writeFileSync(lock, 'provider = "postgresql"\n');
    console.log(`wrote ${path.relative(root, dir)}/migration.sql`);
  } finally {
    await stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function copyFromHead(root: string, rel: string, dest: string) {
  try {
    fs.writeFileSync(dest, execFileSync('git', ['show', `HEAD:${rel}`], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    // not committed yet: absent from the old schema
  }
}

main().catch((err) => {
  console.error(String(err?.message ?? err));
  process.exit(1);
});
