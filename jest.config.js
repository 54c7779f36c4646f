/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/support/environment.js',
  setupFilesAfterEnv: ['<rootDir>/test/support/quiet.ts'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // CommonJS output: jest's module system runs require() but not import() without
  // --experimental-vm-modules, and the generated Prisma client loads its engine with import().
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false, tsconfig: { module: 'commonjs', moduleResolution: 'node' } }] },
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  testTimeout: 90_000,
  maxWorkers: 2,
  // A Jest worker that ran Temporal workers exits once their threads and the SDK's
  // native runtime are torn down: measured from 0 to 1,201 ms after Jest's end message,
  // with no JavaScript handle left, so past Jest's default of 500 ms now and then on
  // two busy cores. A handle left open past 3 s is still reported.
  workerGracefulExitTimeout: 3000,
  verbose: true,
};
