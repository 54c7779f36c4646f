import { NativeConnection, Worker, Runtime, makeTelemetryFilterString, type WorkerOptions } from '@temporalio/worker';
import { loadConfig, ownServers } from './config';
import type { Connection } from '@temporalio/client';
import { connectDb, connectTemporal, createDeps, Deps, registerSearchAttributes } from './deps';
import { createActivities } from './activities';
import { log, temporalLogger } from './shared/log';
import { close, exitOnConfigError, stopOnSignal } from './shutdown';
import { workflowBundle } from './bundle';
import { asTarget, connectionError, connectionOptions, TemporalTarget } from './temporalEnv';
import { payloadDataConverter } from './shared/codec';
import { freeLoopbackPort, serveMetrics, setRuntimeMetricsUrl } from './telemetry/metrics';
import { workerInterceptors, workerSinks } from './telemetry/worker';
import { startTracing, stopTracing } from './telemetry/tracing';

let runtimeInstalled = false;
/**
 * Within the 10 s a supervisor waits between SIGTERM and SIGKILL: past the
 * SDK's force time (8 s), an activity that ignores its cancellation would
 * still hold the worker.
 */
const WORKER_STOP_DEADLINE_MS = 9_000;

/**
 * Once per process, before the first worker: the SDK logs through pino (the
 * SDK core's warnings included, instead of straight to stderr), and the
 * process owns its signals (shutdown drains the worker before servers stop).
 * With `metricsPort`, the runtime's Prometheus exporter listens on that
 * loopback port; the process's /metrics page includes it.
 */
export function installRuntime(metricsPort?: number): void {
  if (runtimeInstalled) return;
  const prometheus = metricsPort ? { bindAddress: `127.0.0.1:${metricsPort}`, countersTotalSuffix: true, useSecondsForDurations: true } : undefined;
  Runtime.install({
    logger: temporalLogger(),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(prometheus ? { metrics: { prometheus } } : {}),
    },
    shutdownSignals: [],
  });
  runtimeInstalled = true;
  if (metricsPort) setRuntimeMetricsUrl(`http://127.0.0.1:${metricsPort}/metrics`);
}

/** A worker on the configured task queue running every flow's workflows and activities. */
export async function createWorker(deps: Deps, to: string | TemporalTarget): Promise<Worker> {
  installRuntime(runtimeInstalled || deps.config.telemetry.metricsAddress === 'off' ? undefined : await freeLoopbackPort());
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
    // Spans inside the workflows only where traces go somewhere: they cost every cached workflow memory.
    workflowBundle: await workflowBundle({ tracing: Boolean(deps.config.telemetry.tracesUrl) }),
    activities: createActivities(deps),
    // Payloads (and failure messages) are encrypted before they reach Temporal's history.
    dataConverter: payloadDataConverter(deps.config.payloadKeys),
    interceptors: workerInterceptors(),
    sinks: workerSinks(),
    // A stop (SIGTERM) drains in bounded time, before `docker compose stop` or Kubernetes kill the process:
    // activities still running after 5 s are cancelled, and the worker exits by 8 s; their retries run elsewhere.
    shutdownGraceTime: '5s',
    shutdownForceTime: '8s',
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
  startTracing(config.telemetry);
  const db = await connectDb(servers.databaseUrl);
  const deps = createDeps(config, db, servers.smtpUrl);
  const temporal = await connectTemporal(servers.temporal, config.temporal.namespace);
  await registerSearchAttributes(temporal.connection as Connection, config.temporal.namespace);
  await temporal.connection.close();
  const worker = await createWorker(deps, servers.temporal);
  // Only where asked for: several workers may share a host, and each needs a port of its own.
  const address = config.telemetry.metricsAddress;
  const metrics = address && address !== 'off' ? await serveMetrics(address) : undefined;
  log.info({ taskQueue: config.temporal.taskQueue }, 'worker running');
  const running = worker.run();
  stopOnSignal('worker', async () => {
    worker.shutdown();
    await running;
    // The worker does not close the connection it was given.
    await worker.connection?.close();
    await db.$disconnect();
    deps.mailer.close();
    if (metrics) await close(metrics);
    await stopTracing();
  }, WORKER_STOP_DEADLINE_MS, () => {
    const status = worker.getStatus();
    return { activities: status.numInFlightActivities, workflowActivations: status.numInFlightWorkflowActivations };
  });
  // Ends only after a stop (then the handler above exits), or with the worker's fatal error.
  await running;
}

if (require.main === module) main().catch(exitOnConfigError);
