import { NativeConnection, Worker, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig, ConfigError } from './config';
import type { Connection } from '@temporalio/client';
import { connectDb, connectTemporal, createDeps, Deps, registerSearchAttributes } from './deps';
import { createActivities } from './activities';
import { log, temporalLogger } from './shared/log';
import { exitOnConfigError } from './shutdown';
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
    workflowsPath: require.resolve('./workflows'),
    activities: createActivities(deps),
  });
}

/** `npm run worker`: the worker alone, against the servers named in the environment. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL', 'is required to run the worker on its own');
  if (!config.temporal.address) throw new ConfigError('TEMPORAL_ADDRESS', 'is required to run the worker on its own');
  if (!config.smtpUrl) throw new ConfigError('SMTP_URL', 'is required to run the worker on its own');
  const db = await connectDb(config.databaseUrl);
  const deps = createDeps(config, db, config.smtpUrl);
  const temporal = await connectTemporal(config.temporal.target!, config.temporal.namespace);
  await registerSearchAttributes(temporal.connection as Connection, config.temporal.namespace);
  await temporal.connection.close();
  const worker = await createWorker(deps, config.temporal.target!);
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
