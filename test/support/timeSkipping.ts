import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveTestServer } from '../../src/dev/temporal';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { connectDb, createDeps, Deps, registerSearchAttributes } from '../../src/deps';
import { createActivities } from '../../src/activities';
import { installRuntime } from '../../src/worker';
import { workflowBundle } from '../../src/bundle';
import type { DataConverter } from '@temporalio/common';
import { payloadDataConverter } from '../../src/shared/codec';

/**
 * Temporal's time-skipping test server: timers of days fire in milliseconds
 * once the workflow waits on nothing but time. The flows' search attributes
 * are registered on it, as on the dev server.
 */
export async function createTimeSkippingEnv(dataConverter?: DataConverter): Promise<TestWorkflowEnvironment> {
  installRuntime();
  const path = resolveTestServer();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    ...(path ? { server: { executable: { type: 'existing-path', path } } } : {}),
    client: { dataConverter },
  });
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}

export interface TimeSkippingHarness {
  env: TestWorkflowEnvironment;
  deps: Deps;
  taskQueue: string;
  /**
   * Runs `fn` while a worker with the real activities (some replaced by
   * `override`, e.g. to hold one back) polls `taskQueue`; a worker runs once,
   * so each call gets its own.
   */
  withWorker<T>(fn: () => Promise<T>, override?: Partial<ReturnType<typeof createActivities>>): Promise<T>;
  teardown(): Promise<void>;
}

/**
 * The time-skipping server plus what a worker needs to run the flows' real
 * activities against the suite's PostgreSQL and SMTP inbox.
 */
export async function startTimeSkipping(name: string): Promise<TimeSkippingHarness> {
  const config = loadConfig();
  // The flows' client and workers encrypt their payloads, as the service's do.
  const dataConverter = payloadDataConverter(config.payloadKeys);
  const env = await createTimeSkippingEnv(dataConverter);
  const deps = createDeps(config, await connectDb(process.env.DATABASE_URL!), process.env.SMTP_URL!);
  const taskQueue = `${name}-${process.pid}`;
  return {
    env,
    deps,
    taskQueue,
    async withWorker(fn, override = {}) {
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities: { ...createActivities(deps), ...override },
        dataConverter,
      });
      return worker.runUntil(fn);
    },
    async teardown() {
      await env.teardown();
      deps.mailer.close();
      await deps.db.$disconnect();
    },
  };
}
