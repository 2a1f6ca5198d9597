import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['@rdskit/testing/global-setup'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // test/*.test-d.ts are type assertions (expect-type): `pnpm typecheck` (tsc on tsconfig.json, part of
    // `pnpm test`) fails on any of them; vitest's typecheck mode would run tsc again and print a notice.
  },
})
