import type { Connection } from '@temporalio/client';
import { Config, loadConfig } from './config';
import { startEmbeddedStack, Stack } from './dev/stack';
import { checkSmtp, connectDb, connectTemporal, createDeps, migrateDatabase, registerSearchAttributes } from './deps';
import { createWorker } from './worker';
import { createApp } from './api/app';
import { codecUiEndpoint } from './api/codec';
import { listen } from './api/server';
import { close, exitOnConfigError } from './shutdown';
import { payloadDataConverter } from './shared/codec';
import { serveMetrics } from './telemetry/metrics';
import { startTracing, stopTracing } from './telemetry/tracing';

/**
 * `npm start`: the whole service. Every server whose variable is unset is
 * started embedded (PostgreSQL, Temporal dev server with Web UI, mail inbox);
 * then migrations, search attributes, the worker and the API.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    exitOnConfigError(err);
  }
  let stack: Stack | undefined;
  let stopping = false;
  // Undone in reverse order: the API first, then the worker (it drains while the servers still run), then connections.
  const cleanups: Array<{ what?: string; run: () => Promise<unknown> | unknown }> = [];
  const say = (line: string) => process.stdout.write(line + '\n');
  const undo = async (verbose: boolean) => {
    for (const cleanup of cleanups.reverse()) {
      if (verbose && cleanup.what) say(`  ${cleanup.what}`);
      await Promise.resolve(cleanup.run()).catch(() => undefined);
    }
    await stack?.stop(verbose ? (name) => say(`  stopping ${name}`) : undefined);
  };
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    say('flowgate: stopping (Ctrl-C again to stop at once)');
    await undo(true);
    say(`flowgate stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));

  try {
    startTracing(config.telemetry);
    cleanups.push({ run: () => stopTracing() });
    // The dev server's Web UI decodes the flows' encrypted payloads through the API's codec endpoint.
    stack = await startEmbeddedStack(config, { temporalUi: process.env.TEMPORAL_UI !== '0', codecEndpoint: codecUiEndpoint(config) });
    // Reachability first: a wrong address should fail in seconds, before any work.
    const db = await connectDb(stack.databaseUrl);
    cleanups.push({ run: () => db.$disconnect() });
    // A configured Temporal keeps its TLS and API key settings; the dev server is plain.
    const temporalTarget = config.temporal.target ?? stack.temporalAddress;
    const temporal = await connectTemporal(temporalTarget, config.temporal.namespace, payloadDataConverter(config.payloadKeys));
    cleanups.push({ run: () => temporal.connection.close() });
    await checkSmtp(stack.smtpUrl);
    await migrateDatabase(stack.databaseUrl);
    await registerSearchAttributes(temporal.connection as Connection, config.temporal.namespace);

    const deps = createDeps(config, db, stack.smtpUrl);
    cleanups.push({ run: () => deps.mailer.close() });
    const worker = await createWorker(deps, temporalTarget);
    // The worker drains its in-flight tasks before the servers below it stop.
    const running = worker.run();
    cleanups.push({
      what: 'stopping the worker (finishing the tasks in hand)',
      run: async () => {
        worker.shutdown();
        await running;
        await worker.connection?.close();
      },
    });
    const server = await listen(createApp({ ...deps, temporal }), config.port);
    cleanups.push({ what: 'stopping the API', run: () => close(server) });
    // One process, one metrics page: the API's, the worker's and the SDK runtime's.
    const metricsAddress = config.telemetry.metricsAddress ?? { host: '127.0.0.1', port: 9464 };
    const metrics = metricsAddress === 'off' ? undefined : await serveMetrics(metricsAddress);
    if (metrics) cleanups.push({ run: () => close(metrics) });
    running.catch((err) => {
      process.stderr.write(`flowgate: worker stopped: ${String(err?.message ?? err).split('\n')[0]}\n`);
      void shutdown(1);
    });

    const lines = [
      `flowgate is running`,
      `  API:              ${config.publicUrl}  (health: ${config.publicUrl}/readyz)`,
      `  Temporal Web UI:  ${stack.temporalUiUrl ?? '(external Temporal at ' + stack.temporalAddress + ')'}`,
      `  Mail inbox:       ${stack.mailInboxUrl ?? '(external SMTP server)'}`,
      `  Metrics:          ${metricsAddress === 'off' ? '(off)' : `http://${metricsAddress.host.includes(':') ? `[${metricsAddress.host}]` : metricsAddress.host}:${metricsAddress.port}/metrics`}`,
      `  Data:             ${config.dataDir}`,
      `Press Ctrl-C to stop.`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } catch (err) {
    if (stopping) return;
    await undo(false);
    exitOnConfigError(err);
  }
}

void main();
