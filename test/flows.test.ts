// A request has one deadline, however many calls to Temporal it makes: the
// steps of a keyed update, the wait for a finishing run, a second flow call.
// Here against a Temporal client whose every call takes as long as the test
// says, so each path can be made slower than the deadline on purpose.
import type { Context } from 'koa';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { defineUpdate } from '@temporalio/workflow';
import type { Config } from '../src/config';
import { FlowDeps, requestDeadline, startOrUpdate, updateFlow } from '../src/api/flows';
import { HttpError } from '../src/api/http';
import { FlowEnding } from '../src/shared/failures';

const DEADLINE_MS = 1000;
/** What the answer may take beyond the deadline: the timers' own lateness on a busy machine. */
const MARGIN_MS = 400;
const config = { updateDeadlineMs: DEADLINE_MS, temporal: { taskQueue: 'flows' } } as Config;
const update = defineUpdate<string, []>('anything');
const never = () => new Promise<never>(() => undefined);
const after = <T>(ms: number, outcome: () => T | Promise<T>): Promise<T> => new Promise<void>((resolve) => setTimeout(resolve, ms)).then(outcome);

/** A client whose calls are the given functions, under gRPC's deadline as the real connection applies it. */
function temporal(calls: { send?: (updateId?: string) => Promise<unknown>; updateResult?: (updateId: string) => Promise<unknown>; runResult?: () => Promise<unknown> }): FlowDeps {
  const client = {
    connection: {
      withDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
        const exceeded = Object.assign(new Error('deadline exceeded'), { code: 4 });
        return Promise.race([fn(), after(Math.max(0, deadline - Date.now()), () => Promise.reject(exceeded))]);
      },
    },
    workflow: {
      executeUpdateWithStart: (_def: unknown, options: { updateId?: string }) => (calls.send ?? never)(options.updateId),
      getHandle: () => ({
        executeUpdate: (_def: unknown, options: { updateId?: string }) => (calls.send ?? never)(options.updateId),
        getUpdateHandle: (updateId: string) => ({ result: () => (calls.updateResult ?? never)(updateId) }),
        result: () => (calls.runResult ?? never)(),
      }),
    },
  };
  return { temporal: client as unknown as FlowDeps['temporal'], config };
}

/** How the call ended and how long it took. */
async function timed(call: () => Promise<unknown>): Promise<{ ms: number; status?: number; retryAfter?: unknown }> {
  const started = Date.now();
  try {
    await call();
    return { ms: Date.now() - started };
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return { ms: Date.now() - started, status: err.status, retryAfter: err.extra.retryAfterSeconds };
  }
}

const start = { workflowType: 'someWorkflow', workflowId: 'some/1', args: [], searchAttributes: [] };
const stepFailed = () => new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ message: 'a step ran out of retries' }));

describe("a request's one deadline", () => {
  it('ends the wait for a finishing run by the deadline (it used to wait 20 s more)', async () => {
    const deps = temporal({
      send: () => Promise.reject(new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type: FlowEnding.type, message: 'ending' }))),
      runResult: never,
    });
    const answer = await timed(() => startOrUpdate(deps, {}, start, update));
    expect(answer).toEqual({ ms: expect.any(Number), status: 503, retryAfter: 5 });
    expect(answer.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(answer.ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
  });

  it('is shared by the steps of a keyed update: each slow, together past the deadline', async () => {
    // The key's update failed earlier; so did the key's next suffix; the one after is new, and never answers.
    const deps = temporal({
      send: (updateId) => (updateId === 'key' ? after(400, () => Promise.reject(stepFailed())) : never()),
      updateResult: (updateId) => after(400, () => Promise.reject(updateId === 'key#2' ? new WorkflowNotFoundError('no such update', 'some/1', undefined) : stepFailed())),
    });
    const answer = await timed(() => updateFlow(deps, {}, 'some/1', update, [], () => new Error('ended'), 'key'));
    expect(answer.status).toBe(503);
    expect(answer.ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
  });

  it('is shared by every flow call of one request', async () => {
    let calls = 0;
    // The first call answers after most of the budget; the second would take it all again.
    const deps = temporal({ send: () => (++calls === 1 ? after(DEADLINE_MS * 0.7, () => 'first') : never()) });
    const request = requestDeadline(config);
    const answer = await timed(() =>
      request({} as Context, async () => {
        expect(await updateFlow(deps, {}, 'some/1', update, [], () => new Error('ended'))).toBe('first');
        await updateFlow(deps, {}, 'some/2', update, [], () => new Error('ended'));
      }),
    );
    expect(calls).toBe(2);
    expect(answer.status).toBe(503);
    expect(answer.ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
  });

  it('leaves a call outside any request its own deadline', async () => {
    const deps = temporal({ send: () => after(DEADLINE_MS * 0.7, () => 'answered') });
    const first = await timed(() => updateFlow(deps, {}, 'some/1', update, [], () => new Error('ended')));
    const second = await timed(() => updateFlow(deps, {}, 'some/1', update, [], () => new Error('ended')));
    expect([first.status, second.status]).toEqual([undefined, undefined]);
  });
});
