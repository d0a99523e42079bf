import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // builds dist/ once before the run (the end-to-end tests spawn the built binary), then starts a
    // throwaway PostgreSQL cluster when one is needed
    globalSetup: ['test/global-setup.ts', 'test/pg-global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // end-to-end tests spawn the built binary; two cores, so keep the fan-out modest
    maxWorkers: 2,
    fileParallelism: true,
  },
});
