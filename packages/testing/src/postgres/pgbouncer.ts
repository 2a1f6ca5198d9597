import type { PgBouncer, StartPgBouncerOptions } from './pgbouncer.types.ts'

// Placeholder: the implementation lands in a following commit.
export async function startPgBouncer(_options?: StartPgBouncerOptions): Promise<PgBouncer> {
  throw new Error('startPgBouncer is not implemented yet')
}
