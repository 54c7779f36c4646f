// The real Temporal server and its SQL schema tool, built from their Go
// module into .tools/bin on the first run and reused while their version is
// the pinned one.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TEMPORAL_SERVER_VERSION = '1.32.2';
/** v1.32.2 needs a newer Go than many machines have; the go command fetches this toolchain from the module proxy. */
export const GO_TOOLCHAIN = 'go1.27.3';
const MODULE = 'go.temporal.io/server';
const BIN = path.join(ROOT, '.tools', 'bin');

export interface TemporalTools {
  server: string;
  sql: string;
  /** The module's source: schema/postgresql/v12 and the config templates. */
  moduleDir: string;
  /** Seconds spent building, 0 when the cached binaries were current. */
  builtSeconds: number;
}

function go(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logFile, 'a');
    const child = spawn('go', args, { cwd: ROOT, env: { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN, CGO_ENABLED: '0', ...env }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child.once('error', (err) => reject(new Error(`go is needed to build the Temporal server (${err.message}); install Go from your package manager`)));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`go ${args.join(' ')} failed (see ${logFile})`))));
  });
}

function isCurrent(binary: string): boolean {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return out.status === 0 && new RegExp(`version ${TEMPORAL_SERVER_VERSION.replace(/\./g, '\\.')}(\\s|$)`).test(out.stdout);
}

export async function ensureTemporalTools(logFile: string): Promise<TemporalTools> {
  fs.mkdirSync(BIN, { recursive: true });
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const started = Date.now();
  let built = false;
  for (const [name, pkg] of [['server', 'cmd/server'], ['sql', 'cmd/tools/sql']]) {
    if (isCurrent(path.join(BIN, name))) continue;
    await go(['install', `${MODULE}/${pkg}@v${TEMPORAL_SERVER_VERSION}`], logFile, { GOBIN: BIN });
    if (!isCurrent(path.join(BIN, name))) throw new Error(`.tools/bin/${name} does not report version ${TEMPORAL_SERVER_VERSION} after building`);
    built = true;
  }
  const modCache = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN } }).stdout?.trim();
  if (!modCache) throw new Error('go env GOMODCACHE failed: is Go installed?');
  const moduleDir = path.join(modCache, `${MODULE}@v${TEMPORAL_SERVER_VERSION}`);
  if (!fs.existsSync(path.join(moduleDir, 'schema', 'postgresql', 'v12'))) await go(['mod', 'download', `${MODULE}@v${TEMPORAL_SERVER_VERSION}`], logFile);
  return { server: path.join(BIN, 'server'), sql: path.join(BIN, 'sql'), moduleDir, builtSeconds: built ? Math.round((Date.now() - started) / 1000) : 0 };
}
