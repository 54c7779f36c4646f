import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from './shared/codec';

/**
 * The workflow code the worker runs and the replay gate replays, built once,
 * in two kinds: plain, and traced (with OpenTelemetry's spans inside the
 * workflows, for a service that exports traces). `npm run build` writes both
 * next to the compiled service (`dist/workflow-bundle.js` and
 * `dist/workflow-bundle-traced.js`); `WORKFLOW_BUNDLE` names another plain
 * bundle, its traced twin beside it with `-traced` before `.js`. Without
 * either (development, `npm start`) it is bundled from the sources once per
 * process.
 */
const PROJECT_ROOT = path.resolve(__dirname, isSourceRun() ? '..' : path.join('..', '..'));
export const BUILT_BUNDLE = path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js');
export const WORKFLOWS_PATH = require.resolve('./workflows');
/**
 * Workflow interceptors, bundled with the workflows: a worker given a built
 * bundle runs only what the bundle holds: the flows' metrics and log fields,
 * and in the traced bundle their spans, outermost.
 */
const METRICS_INTERCEPTORS = require.resolve('./telemetry/workflowInterceptors');
const TRACING_INTERCEPTORS = require.resolve('./telemetry/workflowTracingInterceptors');
export function workflowInterceptorModules(tracing: boolean): string[] {
  return tracing ? [TRACING_INTERCEPTORS, METRICS_INTERCEPTORS] : [METRICS_INTERCEPTORS];
}

export interface BundleOptions {
  /** The bundle with spans inside the workflows (the service exports traces). */
  tracing?: boolean;
}

/** The traced twin of a plain bundle's file. */
export function tracedBundleFile(file: string): string {
  return file.replace(/(\.js)?$/, '-traced.js');
}

const inMemory = new Map<boolean, Promise<WorkflowBundleWithSourceMap>>();

export async function workflowBundle(options: BundleOptions = {}): Promise<{ codePath: string } | WorkflowBundleWithSourceMap> {
  const tracing = options.tracing ?? false;
  const plain = process.env.WORKFLOW_BUNDLE || (fs.existsSync(BUILT_BUNDLE) && !isSourceRun() ? BUILT_BUNDLE : undefined);
  if (plain) return { codePath: tracing ? tracedBundleFile(plain) : plain };
  if (!inMemory.has(tracing)) inMemory.set(tracing, bundle(tracing));
  return inMemory.get(tracing)!;
}

/** Writes the plain bundle to `file` and the traced one beside it (npm run build, the test suite's global setup). */
export async function writeWorkflowBundle(file: string): Promise<void> {
  const [plain, traced] = await Promise.all([bundle(false), bundle(true)]);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, plain.code);
  fs.writeFileSync(tracedBundleFile(file), traced.code);
}

function bundle(tracing: boolean): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, workflowInterceptorModules: workflowInterceptorModules(tracing), logger: quietBundler });
}

/** Run from the TypeScript sources (tsx, jest): a dist/ bundle may be older than them, so it is not used. */
function isSourceRun(): boolean {
  return __filename.endsWith('.ts');
}

// webpack's progress lines are not the service's log.
const noop = () => undefined;
const quietBundler = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };
