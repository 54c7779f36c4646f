import { NativeConnection, Worker, Runtime, makeTelemetryFilterString, type WorkerOptions } from '@temporalio/worker';
import { loadConfig, ownServers } from './config';
import type { Connection } from '@temporalio/client';
import { connectDb, connectTemporal, createDeps, Deps, registerSearchAttributes } from './deps';
import { createActivities } from './activities';
import { log, temporalLogger } from './shared/log';
import { exitOnConfigError } from './shutdown';
import { workflowBundle } from './bundle';
import { asTarget, connectionError, connectionOptions, TemporalTarget } from './temporalEnv';

let runtimeInstalled = false;

/**
 * Once per process, before the first worker: the SDK logs through pino (the
 * SDK core's warnings included, instead of straight to stderr), and the
 * process owns its signals (shutdown drains the worker before servers stop).
 */
export function installRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: temporalLogger(),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
    shutdownSignals: [],
  });
  runtimeInstalled = true;
}

/** A worker on the configured task queue running every flow's workflows and activities. */
export async function createWorker(deps: Deps, to: string | TemporalTarget): Promise<Worker> {
  installRuntime();
  const target = asTarget(to);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connectionOptions(target));
  } catch (err) {
    throw await connectionError(err, target);
  }
  return Worker.create({
    connection,
    namespace: deps.config.temporal.namespace,
    taskQueue: deps.config.temporal.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities(deps),
    // Explicit bounds: the SDK's default cache grows with the heap limit, so memory grew with every waiting flow.
    maxCachedWorkflows: deps.config.worker.maxCachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: deps.config.worker.maxConcurrentWorkflowTasks,
    maxConcurrentActivityTaskExecutions: deps.config.worker.maxConcurrentActivities,
    maxConcurrentLocalActivityExecutions: deps.config.worker.maxConcurrentActivities,
    ...workerDeployment(deps.config),
  });
}

/**
 * With WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID set, the worker is one
 * version of a Worker Deployment: each workflow runs on the versions its
 * versioning behaviour allows (short billing logins stay on the version that
 * started them; long trials and invitations move to the current version),
 * and a new version takes work once it is made current (README: Deploying).
 */
function workerDeployment(config: Deps['config']): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  const deployment = config.temporal.workerDeployment;
  if (!deployment) return {};
  return { workerDeploymentOptions: { version: deployment, useWorkerVersioning: true, defaultVersioningBehavior: 'AUTO_UPGRADE' } };
}

/** `npm run worker`: the worker alone, against the servers named in the environment. */
async function main(): Promise<void> {
  const config = loadConfig();
  const servers = ownServers(config, 'worker');
  const db = await connectDb(servers.databaseUrl);
  const deps = createDeps(config, db, servers.smtpUrl);
  const temporal = await connectTemporal(servers.temporal, config.temporal.namespace);
  await registerSearchAttributes(temporal.connection as Connection, config.temporal.namespace);
  await temporal.connection.close();
  const worker = await createWorker(deps, servers.temporal);
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  log.info({ taskQueue: config.temporal.taskQueue }, 'worker running');
  await worker.run();
  // The worker does not close the connection it was given, and an open one keeps the process alive after SIGTERM.
  await worker.connection?.close();
  await db.$disconnect();
  deps.mailer.close();
}

if (require.main === module) main().catch(exitOnConfigError);
