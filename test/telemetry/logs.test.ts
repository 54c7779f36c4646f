import { startService, TestService } from '../support/service';
import { uniqueEmail, waitForEmail } from '../support/mailbox';
import { log, logContext } from '../../src/shared/log';

/**
 * The workflow's and the activities' log lines (the SDK's included) reach
 * pino, each naming its workflow ID, run ID and flow kind. The suite keeps
 * log lines in memory (test/support/quiet.ts); this file reads them.
 */
const kept = () => (globalThis as { __flowgateLogLines?: string[] }).__flowgateLogLines ?? [];
let svc: TestService;
let level: string;

beforeAll(async () => {
  // The SDK's workflow and activity lines are at debug; the worker's logger takes the level it is created with.
  level = log.level;
  log.level = 'debug';
  svc = await startService();
});
afterAll(async () => {
  await svc?.stop();
  log.level = level;
});

/** Waits until the kept lines hold one matching `match`; all lines as parsed JSON. */
async function linesUntil(match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = kept().map((l) => JSON.parse(l) as Record<string, unknown>);
    if (lines.some(match) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('log lines', () => {
  it("of a trial's workflow and activities name its workflow ID, run ID and flow kind", async () => {
    const email = uniqueEmail('logged');
    const workflowId = `trial/${email}`;
    const res = await fetch(`${svc.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
    expect(res.status).toBe(202);
    await waitForEmail(email, /Verify your email/);
    const lines = await linesUntil((l) => l.workflowId === workflowId && l.activityType === 'sendVerificationEmail' && l.msg === 'Activity completed');

    const ofFlow = lines.filter((l) => l.workflowId === workflowId);
    expect(ofFlow.map((l) => l.msg)).toEqual(expect.arrayContaining(['Workflow started', 'Activity started', 'Activity completed']));
    for (const line of ofFlow) expect(line).toMatchObject({ component: 'temporal', workflowId, runId: expect.stringMatching(/^[0-9a-f-]{36}$/), flowKind: 'trial' });
    // Every line of a workflow or an activity names its flow; none carries the activity's task token.
    const flowLines = lines.filter((l) => l.workflowId || l.activityType);
    expect(flowLines.filter((l) => !l.workflowId || !l.runId || !l.flowKind)).toEqual([]);
    expect(lines.filter((l) => 'taskToken' in l)).toEqual([]);
    // Nothing the person typed (the address beyond the workflow ID) nor any token is logged.
    expect(kept().join('').replaceAll(workflowId, '')).not.toContain(email);
  });

  it("of the service's own code inside an activity or request carry that work's fields", () => {
    // logContext is what the activity interceptor and the request middleware set.
    logContext.run({ workflowId: 'w-1', runId: 'r-1', flowKind: 'trial' }, () => log.warn('inside'));
    const last = JSON.parse(kept().at(-1)!);
    expect(last).toMatchObject({ msg: 'inside', workflowId: 'w-1', runId: 'r-1', flowKind: 'trial' });
  });
});
