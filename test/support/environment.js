// Jest's node environment, plus: the log lines a test produced (kept by
// test/support/quiet.ts) are printed only when that test or a hook fails.
const { TestEnvironment } = require('jest-environment-node');

class QuietEnvironment extends TestEnvironment {
  async handleTestEvent(event) {
    const kept = this.global.__flowgateLogLines;
    if (!kept) return;
    if (event.name === 'test_start') kept.splice(0);
    const failed = (event.name === 'test_done' && event.test.errors.length > 0) || event.name === 'hook_failure';
    if (failed && kept.length > 0) {
      const title = event.test?.name ?? event.hook?.type ?? '';
      process.stderr.write(`\nLog of the failed ${event.name === 'hook_failure' ? 'hook' : 'test'} "${title}":\n${kept.splice(0).join('')}\n`);
    }
  }
}

module.exports = QuietEnvironment;
