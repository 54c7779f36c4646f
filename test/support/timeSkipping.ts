import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveTestServer } from '../../src/dev/temporal';

/**
 * Temporal's time-skipping test server: timers of days fire in milliseconds
 * once the workflow waits on nothing but time.
 */
export function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = resolveTestServer();
  return TestWorkflowEnvironment.createTimeSkipping(
    path ? { server: { executable: { type: 'existing-path', path } } } : undefined,
  );
}
