import type http from 'node:http';
import type { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { loadConfig, Config } from '../../src/config';
import { connectDb, connectTemporal, createDeps, Deps } from '../../src/deps';
import { createWorker } from '../../src/worker';
import { createApp } from '../../src/api/app';
import { close, listen } from '../../src/api/server';
import { freePort } from './ports';

export interface TestService {
  baseUrl: string;
  config: Config;
  deps: Deps;
  db: Deps['db'];
  temporal: Client;
  worker: Worker;
  stop(): Promise<void>;
}

/**
 * The service as `npm start` runs it (worker + API, real servers from
 * globalSetup), on its own port and its own task queue so test files do not
 * share workers. `env` overrides configuration, e.g. a short TTL.
 */
export async function startService(env: Record<string, string> = {}): Promise<TestService> {
  const port = await freePort();
  const taskQueue = `test-${process.pid}-${port}`;
  const config = loadConfig({
    ...process.env,
    PORT: String(port),
    PUBLIC_URL: `http://localhost:${port}`,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ...env,
  });
  const db = await connectDb(config.databaseUrl!);
  const temporal = await connectTemporal(config.temporal.address!, config.temporal.namespace);
  const deps = createDeps(config, db, config.smtpUrl!);
  const worker = await createWorker(deps, config.temporal.address!);
  const running = worker.run();
  const server: http.Server = await listen(createApp({ ...deps, temporal }), port);
  return {
    baseUrl: config.publicUrl,
    config,
    deps,
    db,
    temporal,
    worker,
    async stop() {
      await close(server);
      worker.shutdown();
      await running;
      // The worker does not close a connection it was given; an open one keeps the SDK runtime (and this process) alive.
      await worker.connection?.close();
      await temporal.connection.close();
      await db.$disconnect();
      deps.mailer.close();
    },
  };
}

/** A service of its own for one describe block (e.g. another setting): started before its tests, stopped after them. */
export function serviceFor(env: Record<string, string>): () => TestService {
  let service: TestService | undefined;
  beforeAll(async () => {
    service = await startService(env);
  });
  afterAll(() => service?.stop());
  return () => {
    if (!service) throw new Error('the service has not started');
    return service;
  };
}
