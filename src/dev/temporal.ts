import fs from 'node:fs';
import path from 'node:path';
import { ALL_SEARCH_ATTRIBUTES } from '../shared/searchAttributes';
import { assertPortFree, startService, ServiceHandle } from './process';

export interface TemporalDevHandle {
  address: string;
  /** The server's process, when this process started it as a child. */
  pid?: number;
  uiUrl?: string;
  stop(): Promise<void>;
}

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/**
 * Where the Temporal CLI is: TEMPORAL_CLI_PATH, then `temporal` on PATH, then
 * the project-local install made by `npm run setup`. Undefined means: let the
 * SDK download it.
 */
export function resolveTemporalCli(explicit?: string): string | undefined {
  if (explicit) return explicit;
  return onPath('temporal') ?? existing(path.join(PROJECT_ROOT, '.tools', 'venv', 'bin', 'temporal'));
}

export function resolveTestServer(): string | undefined {
  return (
    process.env.TEMPORAL_TEST_SERVER_PATH ||
    onPath('temporal-test-server') ||
    existing(path.join(PROJECT_ROOT, '.tools', 'venv', 'bin', 'temporal-test-server'))
  );
}

function existing(file: string): string | undefined {
  return fs.existsSync(file) ? file : undefined;
}

/**
 * The Temporal dev server (with Web UI), persisted in one SQLite file, with
 * the flows' search attributes registered at start.
 */
export async function startTemporalDevServer(options: {
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  cliPath?: string;
  ui?: boolean;
  /** The codec endpoint the Web UI decodes payloads with (the API's, src/api/codec.ts). */
  codecEndpoint?: string;
}): Promise<TemporalDevHandle> {
  const ui = options.ui ?? true;
  await assertPortFree('TEMPORAL_PORT', options.port);
  if (ui) await assertPortFree('TEMPORAL_UI_PORT', options.uiPort);
  const dbFile = path.join(options.dataDir, 'temporal.db');
  fs.mkdirSync(options.dataDir, { recursive: true });
  const searchAttributeArgs = ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${key.type === 'DATETIME' ? 'Datetime' : 'Keyword'}`]);
  const cli = resolveTemporalCli(options.cliPath);
  if (!cli) return startWithSdkDownload(options, dbFile, ui);

  const logFile = path.join(options.dataDir, 'logs', 'temporal.log');
  // The dev server also binds internal ports of its own choosing; when one of
  // them was just taken by another process, starting again picks others.
  let service: ServiceHandle | undefined;
  for (let attempt = 1; !service; attempt++) {
    try {
      service = await startDevServerOnce(cli, options, dbFile, ui, searchAttributeArgs, logFile);
    } catch (err) {
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
      if (attempt >= 3 || !tail.includes('address already in use')) throw err;
    }
  }
  const started = service;
  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: ui ? `http://localhost:${options.uiPort}` : undefined,
    pid: started.child.pid,
    stop: () => started.stop(),
  };
}

function startDevServerOnce(
  cli: string,
  options: { port: number; uiPort: number; namespace: string; codecEndpoint?: string },
  dbFile: string,
  ui: boolean,
  searchAttributeArgs: string[],
  logFile: string,
): Promise<ServiceHandle> {
  return startService({
    name: 'Temporal dev server',
    command: cli,
    args: [
      'server', 'start-dev',
      '--db-filename', dbFile,
      '--ip', '127.0.0.1',
      '--port', String(options.port),
      ...(ui ? ['--ui-port', String(options.uiPort)] : ['--headless']),
      ...codecArgs(options, ui),
      '--namespace', options.namespace,
      '--log-level', 'warn',
      ...searchAttributeArgs,
    ],
    port: options.port,
    logFile,
  });
}

function codecArgs(options: { codecEndpoint?: string }, ui: boolean): string[] {
  return ui && options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : [];
}

async function startWithSdkDownload(
  options: { port: number; uiPort: number; namespace: string; codecEndpoint?: string },
  dbFile: string,
  ui: boolean,
): Promise<TemporalDevHandle> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: '127.0.0.1',
      port: options.port,
      ui,
      uiPort: ui ? options.uiPort : undefined,
      dbFilename: dbFile,
      namespace: options.namespace,
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      extraArgs: codecArgs(options, ui),
    },
  });
  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: ui ? `http://localhost:${options.uiPort}` : undefined,
    stop: () => env.teardown(),
  };
}
