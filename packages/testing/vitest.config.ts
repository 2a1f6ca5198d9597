import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One PostgreSQL cluster for the whole run; test files get it through `sharedPostgres`.
    globalSetup: ['./src/vitest/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
