import type { SharedPostgres } from './types.ts'

export type { SharedPostgres } from './types.ts'

// Placeholder: the implementation lands in a following commit.
export const sharedPostgres: SharedPostgres = {
  cluster: () => Promise.reject(new Error('sharedPostgres is not implemented yet')),
  testDatabase: () => Promise.reject(new Error('sharedPostgres is not implemented yet')),
}
