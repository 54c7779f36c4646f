import { format } from 'node:util';
import { redirectLogs } from '../../src/shared/log';

/**
 * A passing run prints Jest's report and nothing else. The service's and the
 * Temporal SDK's log lines are kept per test (test/support/environment.js
 * prints them when that test fails), and anything a test writes to the
 * console fails that test: output nobody asked for is a defect.
 */
const kept: string[] = [];
(globalThis as { __flowgateLogLines?: string[] }).__flowgateLogLines = kept;
redirectLogs({ write: (line: string) => kept.push(line) });

const unexpected: string[] = [];
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
  console[method] = (...args: unknown[]) => void unexpected.push(`console.${method}: ${format(...args)}`);
}

afterEach(() => {
  if (unexpected.length === 0) return;
  const output = unexpected.splice(0).join('\n');
  throw new Error(`The test wrote to the console:\n${output}`);
});
