import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { loadConfig, Config } from '../../src/config';
import { connectDb, connectTemporal, createDeps, Deps } from '../../src/deps';
import { createWorker } from '../../src/worker';
import { createApp } from '../../src/api/app';
import { close } from '../../src/shutdown';
import { payloadDataConverter } from '../../src/shared/codec';

export interface TestService {
  baseUrl: string;
  config: Config;
  deps: Deps;
  db: Deps['db'];
  temporal: Client;
  worker: Worker;
  /** Stops the worker (no workflow or activity runs until `startWorker`): the service as it is while its workers are down. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The service as `npm start` runs it (worker + API, real servers from
 * globalSetup), on its own port and its own task queue so test files do not
 * share workers. `env` overrides configuration, e.g. a short TTL.
 */
export async function startService(env: Record<string, string> = {}): Promise<TestService> {
  // Bound before anything is built on its address: a port chosen, freed and bound later can be
  // taken in between by another test file's process. A test may choose the port, when another
  // server must know the API's address before it starts.
  const server = http.createServer();
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.PORT ? Number(env.PORT) : 0, () => resolve((server.address() as AddressInfo).port));
  });
  const taskQueue = `test-${process.pid}-${port}`;
  const config = loadConfig({
    ...process.env,
    PORT: String(port),
    PUBLIC_URL: `http://localhost:${port}`,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ...env,
  });
  const db = await connectDb(config.databaseUrl!);
  const temporal = await connectTemporal(config.temporal.address!, config.temporal.namespace, payloadDataConverter(config.payloadKeys));
  const deps = createDeps(config, db, config.smtpUrl!);
  let worker: Worker | undefined = await createWorker(deps, config.temporal.address!);
  let running: Promise<void> | undefined = worker.run();
  const stopWorker = async () => {
    if (!worker) return;
    worker.shutdown();
    await running;
    // The worker does not close a connection it was given; an open one keeps the SDK runtime (and this process) alive.
    await worker.connection?.close();
    worker = running = undefined;
  };
  server.on('request', createApp({ ...deps, temporal }).callback());
  return {
    baseUrl: config.publicUrl,
    config,
    deps,
    db,
    temporal,
    get worker() {
      if (!worker) throw new Error('the worker is stopped');
      return worker;
    },
    stopWorker,
    async startWorker() {
      if (worker) return;
      worker = await createWorker(deps, config.temporal.address!);
      running = worker.run();
    },
    async stop() {
      await close(server);
      await stopWorker();
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
