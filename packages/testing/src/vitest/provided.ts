import type { ConnectionInfo } from '../postgres/types.ts'

/** What the global setup hands to test files through vitest's provide/inject (plain JSON). */
export interface SharedClusterInfo extends ConnectionInfo {
  version: number
  ca: string | undefined
  pid: number | undefined
  external: boolean
}

export const providedKey = 'rdskitPostgres'

declare module 'vitest' {
  export interface ProvidedContext {
    rdskitPostgres: SharedClusterInfo | undefined
  }
}
