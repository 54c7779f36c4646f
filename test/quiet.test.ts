import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '..');

describe('a quiet test run', () => {
  it('fails a test that writes to the console, and shows log lines only for failed tests', () => {
    const base = require(path.join(root, 'jest.config.js'));
    const config = {
      rootDir: root,
      roots: ['<rootDir>/test/fixtures/quiet'],
      testMatch: ['**/*.fixture.ts'],
      testEnvironment: base.testEnvironment,
      setupFilesAfterEnv: base.setupFilesAfterEnv,
      transform: base.transform,
    };
    const run = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), '--config', JSON.stringify(config), '--ci', '--colors=false'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    const output = run.stdout + run.stderr;
    expect(run.status).toBe(1);
    expect(output).toMatch(/✕ writes to the console/);
    expect(output).toMatch(/The test wrote to the console:\s+console\.log: unexpected console line/);
    expect(output).toMatch(/✕ logs and fails/);
    expect(output).toContain('log line of a failing test');
    expect(output).toMatch(/✓ logs and passes/);
    expect(output).not.toContain('log line of a passing test');
  });
});
