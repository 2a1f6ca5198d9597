import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** apps/sample-api */
export const appDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The monorepo root (pnpm-lock.yaml lives there). */
export const repoRoot = join(appDir, '..', '..')
