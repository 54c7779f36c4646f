import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { installRuntime } from '../../src/worker';

/**
 * Recorded workflow histories for replay tests live in test/fixtures/histories.
 * `npm run record-histories` runs the replay tests with RECORD_HISTORIES=1,
 * which re-records them; a normal run only replays the committed files.
 */
export const HISTORY_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');
export const recording = process.env.RECORD_HISTORIES === '1';

export async function saveHistory(name: string, handle: WorkflowHandle): Promise<void> {
  const history = await handle.fetchHistory();
  fs.mkdirSync(HISTORY_DIR, { recursive: true });
  fs.writeFileSync(path.join(HISTORY_DIR, `${name}.json`), JSON.stringify(history, null, 1) + '\n');
}

export function loadHistories(prefix: string): { name: string; history: unknown }[] {
  if (!fs.existsSync(HISTORY_DIR)) return [];
  return fs
    .readdirSync(HISTORY_DIR)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f.replace(/\.json$/, ''), history: JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, f), 'utf8')) }));
}

/** Replays histories against the current workflow code, with the service's runtime (its logger keeps the SDK quiet). */
export function replayHistories(histories: Parameters<typeof Worker.runReplayHistories>[1]) {
  installRuntime();
  return Worker.runReplayHistories({ workflowsPath: require.resolve('../../src/workflows') }, histories);
}
