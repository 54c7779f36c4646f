import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveTestServer } from '../../src/dev/temporal';
import { temporal } from '@temporalio/proto';
import { registerSearchAttributes } from '../../src/deps';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';

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
  const namespace = env.namespace ?? 'default';
  await registerSearchAttributes(env.connection, namespace).catch(async (err: { code?: number }) => {
    // The Java test server cannot list search attributes (gRPC UNIMPLEMENTED) but can add them.
    if (err?.code !== 12) throw err;
    await env.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
  });
  return env;
}
