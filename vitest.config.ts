import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: test files run two at a time, each with its own server on free ports.
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
