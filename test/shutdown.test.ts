import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** Starts the fixture, SIGTERMs it once ready, and says how it ended. */
function stopStuckProcess(inFlight: number): Promise<{ code: number | null; ms: number; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/shutdown/stopper.ts'], {
    cwd: ROOT,
    env: { ...process.env, STOPPER_IN_FLIGHT: String(inFlight), LOG_LEVEL: 'info' },
  });
  let output = '';
  let signalled = 0;
  child.stderr.on('data', (d) => (output += d));
  child.stdout.on('data', (d) => {
    output += d;
    if (!signalled && output.includes('ready\n')) {
      signalled = Date.now();
      child.kill('SIGTERM');
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, ms: Date.now() - signalled, output })));
}

describe('a stop that does not finish', () => {
  it('ends at its deadline, failing when it cuts work short and naming that work', async () => {
    const ended = await stopStuckProcess(2);
    expect(ended.code).toBe(1);
    expect(ended.ms).toBeGreaterThanOrEqual(450);
    expect(ended.ms).toBeLessThan(5000);
    const line = JSON.parse(ended.output.split('\n').find((l) => l.includes('stop deadline'))!);
    expect(line).toMatchObject({ level: 40, msg: 'stopper exits at its stop deadline, cutting work short', unfinished: { activities: 2 } });
  });

  it('ends cleanly at its deadline when nothing is in hand', async () => {
    const ended = await stopStuckProcess(0);
    expect(ended.code).toBe(0);
    expect(ended.output).toContain('stopper exits at its stop deadline with nothing in hand');
  });
});
