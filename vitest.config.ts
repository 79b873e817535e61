import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // The API suites inherit the settings above (real PostgreSQL); the web component tests
    // run in happy-dom with no database (web/vitest.config.ts).
    projects: [{ extends: true, test: { name: 'api' } }, 'web/vitest.config.ts'],
  },
});
