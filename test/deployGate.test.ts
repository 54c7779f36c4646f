// The deploy gate (`npm run replay`): it replays the histories of recent and
// running executions from the configured Temporal against the bundle about
// to be deployed, and fails when any would not replay.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { startService, TestService } from './support/service';
import { createIsolatedEnvironment } from './support/isolatedDb';
import { uniqueEmail, waitForEmail } from './support/mailbox';

const ROOT = path.resolve(__dirname, '..');

function gate(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/replay.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run replay', () => {
  let service: TestService;
  let isolated: Awaited<ReturnType<typeof createIsolatedEnvironment>>;

  beforeAll(async () => {
    isolated = await createIsolatedEnvironment('deploy_gate');
    service = await startService(isolated);
  });
  afterAll(() => service?.stop());

  it('passes when the running and recent executions replay with the bundle', async () => {
    const email = uniqueEmail('gate');
    const res = await fetch(`${service.baseUrl}/api/trial/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: email }) });
    expect(res.status).toBe(202);
    await waitForEmail(email, /Verify your email/);
    const result = await gate({ TEMPORAL_NAMESPACE: isolated.TEMPORAL_NAMESPACE }, '--since', '1h', '--task-queue', service.config.temporal.taskQueue);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^replay: [1-9]\d* executions .* 0 would fail\n$/);
  });

  it('fails, naming the execution, when a running execution would not replay', async () => {
    // A run of the guard fixture's v1 is waiting; the bundle about to be deployed has v2, changed without a patch.
    const guard = path.join(ROOT, 'test', 'fixtures', 'guard');
    const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
    const worker = await Worker.create({ connection, namespace: isolated.TEMPORAL_NAMESPACE, taskQueue: 'gate-v1', workflowsPath: path.join(guard, 'v1', 'workflows.ts'), activities: { greet: async (n: string) => `Hello ${n}` } });
    const bundleFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'flowgate-gate-')), 'v2.js');
    try {
      await worker.runUntil(async () => {
        // Started without the payload codec, as the guard fixture's worker has none: the gate replays plain histories too.
        const plain = new Client({ connection: service.temporal.connection, namespace: isolated.TEMPORAL_NAMESPACE });
        const handle = await plain.workflow.start('greetingWorkflow', { taskQueue: 'gate-v1', workflowId: `gate-${Date.now()}`, args: ['Ada'] });
        // Parked on its timer once the first workflow task is done.
        for (let i = 0; (await handle.fetchHistory()).events!.every((e) => !e.timerStartedEventAttributes); i++) {
          if (i > 200) throw new Error('the workflow did not start its timer');
          await new Promise((r) => setTimeout(r, 50));
        }
      });
      const noop = () => undefined;
      const { code } = await bundleWorkflowCode({ workflowsPath: path.join(guard, 'v2', 'workflows.ts'), logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop } });
      fs.writeFileSync(bundleFile, code);
      const result = await gate({ TEMPORAL_NAMESPACE: isolated.TEMPORAL_NAMESPACE, WORKFLOW_BUNDLE: bundleFile }, '--since', '1h', '--task-queue', 'gate-v1');
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^gate-\d+: .*[Nn]ondeterminism/m);
      expect(result.stdout).toMatch(/1 would fail/);
    } finally {
      await connection.close();
      fs.rmSync(path.dirname(bundleFile), { recursive: true, force: true });
    }
  }, 60_000);
});
