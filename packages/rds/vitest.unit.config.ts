import { defineConfig } from 'vitest/config'

/** The pure modules' unit tests alone: no PostgreSQL, so Stryker can re-run them for every mutant. */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 10_000,
  },
})
