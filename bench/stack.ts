import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');

import { freePort } from '../test/support/ports';

export { freePort };

export interface ServiceProcess {
  child: ChildProcess;
  baseUrl: string;
  temporalAddress: string;
  dataDir: string;
  env: Record<string, string>;
  /** What the service has printed (its warnings and errors at LOG_LEVEL=warn). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * The service started the way the README starts it (`src/main.ts`: embedded
 * PostgreSQL and Temporal dev server), in a throw-away data directory, with
 * mail going to `smtpUrl`.
 */
export async function startServiceProcess(smtpUrl: string, extraEnv: Record<string, string> = {}, options: { cpuProfileDir?: string } = {}): Promise<ServiceProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-bench-'));
  fs.chmodSync(dataDir, 0o755);
  const [port, pg, temporal, ui] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    PORT: String(port),
    PUBLIC_URL: `http://localhost:${port}`,
    EMBEDDED_PG_PORT: String(pg),
    TEMPORAL_PORT: String(temporal),
    TEMPORAL_UI_PORT: String(ui),
    SMTP_URL: smtpUrl,
    LOG_LEVEL: 'warn',
    METRICS_ADDRESS: 'off',
    ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
    ...extraEnv,
  };
  const childEnv = { ...process.env, ...env };
  for (const v of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TOKEN_SECRET']) if (!(v in extraEnv)) delete childEnv[v];
  // With a profile directory, the service writes a V8 CPU profile there when it stops.
  const profile = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (output.includes('Press Ctrl-C')) (clearInterval(timer), resolve());
      else if (child.exitCode !== null) (clearInterval(timer), reject(new Error(`service exited:\n${output}`)));
    }, 100);
  });
  return {
    child,
    baseUrl: env.PUBLIC_URL,
    temporalAddress: `127.0.0.1:${temporal}`,
    dataDir,
    env,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await new Promise((r) => child.once('exit', r));
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resident memory of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/**
 * What the service's own /metrics page says of its memory, in MiB (and the
 * worker's cached workflows): the JavaScript heap of the main thread, memory
 * held outside it (buffers), and the worker cache's size, beside the RSS.
 */
export async function memoryBreakdown(metricsUrl: string): Promise<Record<string, number>> {
  const page = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text();
  const value = (name: string) => {
    let sum = NaN;
    for (const m of page.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) sum = (Number.isNaN(sum) ? 0 : sum) + Number(m[1]);
    return sum;
  };
  const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  return {
    rssMiB: mib(value('process_resident_memory_bytes')),
    mainHeapUsedMiB: mib(value('nodejs_heap_size_used_bytes')),
    mainHeapTotalMiB: mib(value('nodejs_heap_size_total_bytes')),
    externalMiB: mib(value('nodejs_external_memory_bytes')),
    cachedWorkflows: value('temporal_sticky_cache_size'),
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, index)] * 10) / 10;
}

/** Runs `count` tasks with at most `concurrency` at once. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>, progress?: (done: number) => void): Promise<void> {
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await task(i);
      progress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** CPU time (user + system, children included) by component, read from /proc. */
export type CpuSample = Record<string, number>;

/**
 * Where the CPU goes: the service process (API and worker), the Temporal
 * server, PostgreSQL (all under the service's process tree) and this
 * benchmark process (clients, SMTP sink, the baseline's worker).
 */
export class CpuMeter {
  private static readonly TICKS_PER_SECOND = 100;

  constructor(private readonly servicePid: number) {}

  mark(): CpuSample {
    const sample: CpuSample = { bench: (process.cpuUsage().user + process.cpuUsage().system) / 1000 };
    for (const { pid, comm } of descendants(this.servicePid)) {
      const component = pid === this.servicePid ? 'service' : /^postgres/.test(comm) ? 'postgres' : /^temporal/.test(comm) ? 'temporal' : 'other';
      sample[component] = (sample[component] ?? 0) + processCpuMs(pid);
    }
    return sample;
  }

  /** CPU milliseconds per flow since `from`, by component, with the total and the share of all cores used. */
  perFlow(from: CpuSample, flows: number, seconds: number): Record<string, number> {
    const now = this.mark();
    const perFlow: Record<string, number> = {};
    let total = 0;
    for (const [component, ms] of Object.entries(now)) {
      const used = ms - (from[component] ?? 0);
      if (used <= 0) continue;
      perFlow[component] = Math.round((used / flows) * 10) / 10;
      total += used;
    }
    perFlow.total = Math.round((total / flows) * 10) / 10;
    perFlow.coresBusyPercent = Math.round((total / 1000 / seconds / os.cpus().length) * 1000) / 10;
    return perFlow;
  }

  static ticksToMs(ticks: number): number {
    return (ticks * 1000) / CpuMeter.TICKS_PER_SECOND;
  }
}

function processCpuMs(pid: number): number {
  try {
    // Fields after the command name: state ppid ... utime(14) stime(15) cutime(16) cstime(17).
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return CpuMeter.ticksToMs(Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
  } catch {
    return 0; // exited meanwhile
  }
}

/** The process and all its descendants, with their command names. */
export function descendants(root: number): { pid: number; comm: string }[] {
  const children = new Map<number, { pid: number; comm: string }[]>();
  let rootComm = '';
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number(entry) === root) rootComm = comm;
      const list = children.get(ppid) ?? [];
      list.push({ pid: Number(entry), comm });
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const found = [{ pid: root, comm: rootComm }];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i].pid) ?? []));
  return found;
}
