import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import type { VersioningBehavior } from '@temporalio/common';

/**
 * How a workflow moves between versions of a Worker Deployment: PINNED stays
 * on the version that started it, AUTO_UPGRADE moves to the current version.
 * Declared only to a versioned worker (one of a named deployment; an
 * unversioned worker reports a version with no deployment name):
 * an unversioned worker must not name a behaviour at all.
 */
export function versionedAs(versioningBehavior: VersioningBehavior, workflow: (...args: never[]) => Promise<unknown>): void {
  setWorkflowOptions(() => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {}), workflow as (...args: unknown[]) => Promise<unknown>);
}
