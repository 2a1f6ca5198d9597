import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Packing, an npm install (a cold npm cache fetches the peers) and a tsc run.
    hookTimeout: 300_000,
  },
})
