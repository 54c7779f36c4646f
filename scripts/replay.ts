// The deploy gate: npm run replay [-- --since 7d] [--task-queue flows] [--bundle file]
// Replays the histories of the flows' recent and running executions, fetched
// from the configured Temporal, against the workflow bundle about to be
// deployed (--bundle, WORKFLOW_BUNDLE, or dist/workflow-bundle.js after `npm run build`;
// without any, the workflow sources).
// Exits non-zero when any would fail: deploy only when this passes.
import fs from 'node:fs';
import path from 'node:path';
import ms from 'ms';
import { Worker } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../src/config';
import { connectTemporal } from '../src/deps';
import { BUILT_BUNDLE, tracedBundleFile, workflowBundle } from '../src/bundle';
import { installRuntime } from '../src/worker';
import { payloadDataConverter } from '../src/shared/codec';
import { workerSinks } from '../src/telemetry/worker';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const since = option('since', '7d');
  const sinceMs = ms(since as ms.StringValue);
  if (typeof sinceMs !== 'number' || !(sinceMs > 0)) throw new ConfigError('--since', `"${since}" is not a duration such as 7d`);
  const taskQueue = option('task-queue', config.temporal.taskQueue);
  // The configured Temporal (TLS and API key included); with none, the dev server `npm start` runs.
  const client = await connectTemporal(config.temporal.target ?? `127.0.0.1:${config.temporal.port}`, config.temporal.namespace);
  installRuntime();
  const query = `TaskQueue = '${taskQueue.replace(/'/g, '')}' AND (ExecutionStatus = 'Running' OR StartTime > '${new Date(Date.now() - sinceMs).toISOString()}')`;
  // What is about to be deployed: --bundle, else WORKFLOW_BUNDLE, else the build's bundle, else the sources;
  // the traced kind where the workers export traces, as they run it.
  const tracing = Boolean(config.telemetry.tracesUrl);
  const plain = option('bundle', '') || process.env.WORKFLOW_BUNDLE || (fs.existsSync(BUILT_BUNDLE) ? BUILT_BUNDLE : '');
  const file = plain && (tracing && !option('bundle', '') ? tracedBundleFile(plain) : plain);
  if (file && !fs.existsSync(file)) throw new ConfigError(option('bundle', '') ? '--bundle' : 'WORKFLOW_BUNDLE', `${file} does not exist (npm run build writes ${path.relative(process.cwd(), BUILT_BUNDLE)} and its traced twin)`);
  const bundle = file ? { codePath: file } : await workflowBundle({ tracing });
  const against = file ? path.relative(process.cwd(), file) || file : 'the workflow sources';
  const failures: string[] = [];
  let replayed = 0;
  try {
    const histories = client.workflow.list({ query }).intoHistories();
    // Encrypted payloads are opened with the workers' keys (PAYLOAD_KEYS); histories from before encryption pass as they are.
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, dataConverter: payloadDataConverter(config.payloadKeys), sinks: workerSinks() }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message.split('\n')[0]}`);
    }
  } finally {
    await client.connection.close();
  }
  for (const failure of failures) process.stderr.write(`${failure}\n`);
  process.stdout.write(`replay: ${replayed} executions of task queue ${taskQueue} since ${since} (running ones included) against ${against}, ${failures.length} would fail\n`);
  if (failures.length > 0) process.exit(1);
}

main().catch((err) => {
  process.stderr.write(`replay: ${err instanceof ConfigError ? err.message : String(err?.message ?? err).split('\n')[0]}\n`);
  process.exit(2);
});
