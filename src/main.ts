import type { Connection } from '@temporalio/client';
import { Config, loadConfig } from './config';
import { startEmbeddedStack, Stack } from './dev/stack';
import { checkSmtp, connectDb, connectTemporal, createDeps, migrateDatabase, registerSearchAttributes } from './deps';
import { createWorker } from './worker';
import { createApp } from './api/app';
import { close, listen } from './api/server';
import { exitOnConfigError } from './shutdown';

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
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    await stack?.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));

  try {
    stack = await startEmbeddedStack(config, { temporalUi: process.env.TEMPORAL_UI !== '0' });
    // Reachability first: a wrong address should fail in seconds, before any work.
    const db = await connectDb(stack.databaseUrl);
    cleanups.push(() => db.$disconnect());
    const temporal = await connectTemporal(stack.temporalAddress, config.temporal.namespace);
    cleanups.push(() => temporal.connection.close());
    await checkSmtp(stack.smtpUrl);
    await migrateDatabase(stack.databaseUrl);
    await registerSearchAttributes(temporal.connection as Connection, config.temporal.namespace);

    const deps = createDeps(config, db, stack.smtpUrl);
    cleanups.push(() => deps.mailer.close());
    const worker = await createWorker(deps, stack.temporalAddress);
    // The worker drains its in-flight tasks before the servers below it stop.
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    const server = await listen(createApp({ ...deps, temporal }), config.port);
    cleanups.push(() => close(server));
    running.catch((err) => {
      process.stderr.write(`flowgate: worker stopped: ${String(err?.message ?? err).split('\n')[0]}\n`);
      void shutdown(1);
    });

    const lines = [
      `flowgate is running`,
      `  API:              ${config.publicUrl}  (health: ${config.publicUrl}/readyz)`,
      `  Temporal Web UI:  ${stack.temporalUiUrl ?? '(external Temporal at ' + stack.temporalAddress + ')'}`,
      `  Mail inbox:       ${stack.mailInboxUrl ?? '(external SMTP server)'}`,
      `  Data:             ${config.dataDir}`,
      `Press Ctrl-C to stop.`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } catch (err) {
    if (stopping) return;
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    await stack?.stop();
    exitOnConfigError(err);
  }
}

void main();
