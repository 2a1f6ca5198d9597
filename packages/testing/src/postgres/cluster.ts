import type { PostgresCluster, StartPostgresOptions } from './types.ts'

// Placeholder: the implementation lands in a following commit.
export async function startPostgres(_options?: StartPostgresOptions): Promise<PostgresCluster> {
  throw new Error('startPostgres is not implemented yet')
}
