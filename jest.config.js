// Two projects run the same test bodies: `unit` on the CPU (always, CI), `gpu` on cuda:0 where a GPU
// is present (skipped otherwise; NSA_REQUIRE_GPU=1 turns an absent GPU into a failure).
const tsJest = ['ts-jest', { diagnostics: false }];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': tsJest },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
};
module.exports = {
  // A global option (ignored inside projects). GPU tests allocate and read back a lot, and sanitizer
  // runs slow device work 10-100x: the limit only guards against hangs.
  testTimeout: 300000,
  projects: [
    { ...common, displayName: 'unit', setupFiles: ['<rootDir>/test/helpers/setup-unit.ts'] },
    { ...common, displayName: 'gpu', setupFiles: ['<rootDir>/test/helpers/setup-gpu.ts'] },
  ],
};
