import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveTestServer } from '../../src/dev/temporal';
import { registerSearchAttributes } from '../../src/deps';

/**
 * Temporal's time-skipping test server: timers of days fire in milliseconds
 * once the workflow waits on nothing but time. The flows' search attributes
 * are registered on it, as on the dev server.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = resolveTestServer();
  const env = await TestWorkflowEnvironment.createTimeSkipping(
    path ? { server: { executable: { type: 'existing-path', path } } } : undefined,
  );
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}
