import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { installRuntime } from '../../src/worker';
import { workflowBundle } from '../../src/bundle';
import { loadConfig } from '../../src/config';
import { decodeJsonHistory, EncryptionCodec, payloadDataConverter } from '../../src/shared/codec';
import { workerSinks } from '../../src/telemetry/worker';

/**
 * Recorded workflow histories live in test/fixtures/histories/<flow>/, with
 * manifest.json saying which workflow code recorded each one (the flow's
 * checksum, below). A normal run replays them all; `npm run record-histories`
 * records the flows' paths again with today's code. A history recorded by
 * earlier code is never overwritten: it moves to <flow>/recorded-<checksum>/,
 * where it keeps proving that runs started by that code still replay.
 */
export const HISTORY_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');
export const MANIFEST = path.join(HISTORY_DIR, 'manifest.json');
export const recording = process.env.RECORD_HISTORIES === '1';
export const FLOWS = ['billing', 'invitation', 'trial'] as const;
export type Flow = (typeof FLOWS)[number];

const ROOT = path.resolve(__dirname, '..', '..');
/**
 * What a flow's workflow code is: its folder, every file beside the flows'
 * folders in src/workflows, and the modules outside it that the bundle holds
 * (a test checks this list against the bundle's own module list).
 */
export const SHARED_WORKFLOW_FILES = [
  'src/shared/failures.ts', 'src/shared/failureConverter.ts', 'src/shared/searchAttributes.ts',
  // The workflow interceptors run inside every workflow (src/bundle.ts bundles them): they are workflow code too.
  'src/telemetry/workflowInterceptors.ts', 'src/telemetry/workflowTracingInterceptors.ts', 'src/telemetry/workflowTracing.ts', 'src/telemetry/flows.ts',
];

const WORKFLOWS_DIR = path.join(ROOT, 'src', 'workflows');

/** The files of src/workflows outside the flows' folders, shared by every flow. */
function workflowsTopLevel(): string[] {
  return fs.readdirSync(WORKFLOWS_DIR, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(WORKFLOWS_DIR, e.name));
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** The checksum of files (paths relative to `root`, contents): the identity of some workflow code. */
export function checksumOf(root: string, files: string[]): string {
  const hash = crypto.createHash('sha256');
  for (const file of files.map((f) => path.relative(root, f)).sort()) hash.update(file).update('\0').update(fs.readFileSync(path.join(root, file))).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** The checksum of a flow's workflow code: it changes with any change to what its workflows run. */
export function flowChecksum(flow: string): string {
  return checksumOf(ROOT, [...filesUnder(path.join(WORKFLOWS_DIR, flow)), ...workflowsTopLevel(), ...SHARED_WORKFLOW_FILES.map((f) => path.join(ROOT, f))]);
}

export type Manifest = Record<string, { recordedWith: string }>;

export function readManifest(): Manifest {
  return fs.existsSync(MANIFEST) ? JSON.parse(fs.readFileSync(MANIFEST, 'utf8')) : {};
}

function writeManifest(manifest: Manifest): void {
  const sorted = Object.fromEntries(Object.entries(manifest).sort(([a], [b]) => a.localeCompare(b)));
  fs.writeFileSync(MANIFEST, JSON.stringify(sorted, null, 1) + '\n');
}

/** Every recorded history, with the flow it belongs to (its first folder). */
export function allHistories(): { file: string; flow: string; history: unknown }[] {
  return filesUnder(HISTORY_DIR)
    .filter((f) => f.endsWith('.json') && f !== MANIFEST)
    .map((f) => path.relative(HISTORY_DIR, f))
    .sort()
    .map((file) => ({ file, flow: file.split(path.sep)[0], history: JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, file), 'utf8')) }));
}

/**
 * Saves a run's history as <flow>/<name>.json, recorded by today's code; one
 * recorded by other code moves aside first. Its payloads are saved decrypted:
 * the fixtures hold only test data, stay readable in review, and replay
 * without the suite's keys.
 */
export async function saveHistory(flow: Flow, name: string, handle: WorkflowHandle): Promise<void> {
  const history = await decodeJsonHistory(JSON.parse(JSON.stringify(await handle.fetchHistory())), new EncryptionCodec(loadConfig().payloadKeys));
  const manifest = readManifest();
  const checksum = flowChecksum(flow);
  const file = path.join(flow, `${name}.json`);
  const earlier = manifest[file];
  if (fs.existsSync(path.join(HISTORY_DIR, file)) && earlier && earlier.recordedWith !== checksum) {
    const kept = path.join(flow, `recorded-${earlier.recordedWith}`, `${name}.json`);
    fs.mkdirSync(path.dirname(path.join(HISTORY_DIR, kept)), { recursive: true });
    fs.renameSync(path.join(HISTORY_DIR, file), path.join(HISTORY_DIR, kept));
    manifest[kept] = earlier;
  }
  fs.mkdirSync(path.dirname(path.join(HISTORY_DIR, file)), { recursive: true });
  fs.writeFileSync(path.join(HISTORY_DIR, file), JSON.stringify(history, null, 1) + '\n');
  manifest[file] = { recordedWith: checksum };
  writeManifest(manifest);
}

/**
 * The guard: flows whose workflow code today matches no recorded history.
 * Any change to a flow's workflow code needs histories recorded by the new
 * code (the old ones kept), so every change is replayed by its tests.
 */
export function unrecordedFlows(manifest: Manifest, checksums: Record<string, string>): string[] {
  const recordedWith = new Set(Object.values(manifest).map((m) => m.recordedWith));
  return Object.entries(checksums)
    .filter(([, checksum]) => !recordedWith.has(checksum))
    .map(([flow]) => flow);
}

/** Replays histories against the service's workflow bundle; the failures, by history. */
export async function replayFailures(histories: { file: string; history: unknown }[], bundle?: Awaited<ReturnType<typeof workflowBundle>>): Promise<string[]> {
  installRuntime();
  const replays = histories.map(({ file, history }) => ({ workflowId: file, history: temporal.api.history.v1.History.fromObject(history as object) }));
  const failures: string[] = [];
  let replayed = 0;
  // One worker for all histories: replaying them one by one would load the bundle each time.
  // With the service's data converter, as the worker and the deploy gate replay: encrypted histories open, plain ones pass.
  const dataConverter = payloadDataConverter(loadConfig().payloadKeys);
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle ?? (await workflowBundle()), dataConverter, sinks: workerSinks() }, replays)) {
    replayed++;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message.split('\n')[0]}`);
  }
  if (replayed !== histories.length) failures.push(`replayed ${replayed} of ${histories.length} histories`);
  return failures;
}
