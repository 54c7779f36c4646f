import { spawn, ChildProcess, SpawnOptions } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config';

export interface ServiceHandle {
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
let watchdog: ChildProcess | undefined;

/**
 * Puts a server's process group in the care of the watchdog (src/dev/watchdog.ts),
 * which ends it if this process dies before stopping it.
 */
export function watch(pid: number): void {
  if (!watchdog) {
    const file = path.join(__dirname, `watchdog${path.extname(__filename)}`);
    watchdog = spawn(process.execPath, file.endsWith('.ts') ? ['--import', 'tsx', file] : [file], {
      cwd: PROJECT_ROOT,
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.on('error', () => undefined);
    watchdog.stdin!.on('error', () => undefined);
    // Neither the watchdog nor its pipe may keep this process alive.
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
  }
  watchdog.stdin!.write(`+${pid}\n`);
}

export function unwatch(pid: number): void {
  watchdog?.stdin?.write(`-${pid}\n`);
}

/**
 * Spawns a server in its own process group: Ctrl-C in a terminal signals the
 * foreground group, and the servers must outlive the worker's drain, then stop
 * in order. The watchdog ends them if this process is killed.
 */
export function spawnServer(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  if (child.pid) {
    watch(child.pid);
    child.once('exit', () => unwatch(child.pid!));
  }
  return child;
}

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export async function assertPortFree(variable: string, port: number): Promise<void> {
  if (!(await isPortFree(port))) throw new ConfigError(variable, `port ${port} is already in use`);
}

/** Resolves once something accepts TCP connections on host:port, or rejects after timeoutMs. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 30_000, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error('exited before it was ready');
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs / 1000}s`);
}

/**
 * Starts a helper server as a child process with its output in a log file, and
 * waits until its port answers. The child is stopped with SIGTERM (then SIGKILL).
 */
export async function startService(options: {
  name: string;
  command: string;
  args: string[];
  port: number;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}): Promise<ServiceHandle> {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  const child = spawnServer(options.command, options.args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, ...options.env },
  });
  fs.closeSync(log);
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  try {
    await waitForPort(options.port, '127.0.0.1', options.readyTimeoutMs ?? 60_000, () => !exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${options.name} did not start: ${(err as Error).message} (see ${options.logFile})`);
  }
  return {
    name: options.name,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited || child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => (clearTimeout(timer), resolve()));
        child.kill('SIGTERM');
      }),
  };
}
