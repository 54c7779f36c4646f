import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from './shared/codec';

/**
 * The workflow code the worker runs and the replay gate replays: one bundle,
 * built once. `npm run build` writes it next to the compiled service
 * (`dist/workflow-bundle.js`); `WORKFLOW_BUNDLE` names another file. Without
 * either (development, `npm start`) it is bundled from the sources once per
 * process.
 */
const PROJECT_ROOT = path.resolve(__dirname, isSourceRun() ? '..' : path.join('..', '..'));
export const BUILT_BUNDLE = path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js');
export const WORKFLOWS_PATH = require.resolve('./workflows');
/**
 * Workflow interceptors, bundled with the workflows: a worker given a built
 * bundle runs only what the bundle holds: the flows' metrics, log fields
 * and spans.
 */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./telemetry/workflowInterceptors')];

let inMemory: Promise<WorkflowBundleWithSourceMap> | undefined;

export async function workflowBundle(): Promise<{ codePath: string } | WorkflowBundleWithSourceMap> {
  const file = process.env.WORKFLOW_BUNDLE || (fs.existsSync(BUILT_BUNDLE) && !isSourceRun() ? BUILT_BUNDLE : undefined);
  if (file) return { codePath: file };
  inMemory ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES, logger: quietBundler });
  return inMemory;
}

/** Writes the bundle to `file` (npm run build, the test suite's global setup). */
export async function writeWorkflowBundle(file: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES, logger: quietBundler });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, code);
}

/** Run from the TypeScript sources (tsx, jest): a dist/ bundle may be older than them, so it is not used. */
function isSourceRun(): boolean {
  return __filename.endsWith('.ts');
}

// webpack's progress lines are not the service's log.
const noop = () => undefined;
const quietBundler = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };
