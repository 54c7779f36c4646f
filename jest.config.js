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
  verbose: true,
};
