import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['@rdskit/testing/global-setup'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Two cores shared with the rest of the monorepo: a few files at a time.
    maxWorkers: 2,
  },
})
