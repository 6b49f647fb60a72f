import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 has no "exports" map: Node loads index.js, Vite would pick index.mjs via
    // "module". Two copies of graphql-js cannot share a schema, so pin Node's choice.
    alias: [
      { find: /^graphql$/, replacement: require.resolve('graphql') },
      // In the repo, tests import the client's sources (as tsconfig.json's `paths` says); the
      // built package is tested by test/client/package.test.ts.
      { find: /^@tally\/client$/, replacement: new URL('./client/src/index.ts', import.meta.url).pathname },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts', 'test/support/build-dashboard.ts'],
    pool: 'forks',
    // Vitest runs cpus - 1 files at a time: one on a 2-core machine, where the suite then took
    // 636 s (most of a file's time is waiting on PostgreSQL, a server process or a browser).
    // Two at a time: 372 s there. Each file has its own database, so files do not meet.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file has its own database; failures must be real, not flaky retries.
    retry: 0,
  },
});
