import { sql } from 'drizzle-orm'
import journal from '../../drizzle/meta/_journal.json' with { type: 'json' }
import { findInChain } from '../http/errors.ts'
import { ProblemError } from '../http/problem.ts'
import { json } from '../http/response.ts'
import { validate } from '../http/validation.ts'
import { emptyQuery } from '../notes/schemas.ts'
import type { AppContext } from './context.ts'
import { type RouteStep, route } from './route.ts'

/** The migration the bundled code expects last: drizzle records each one by its journal `when`. */
const expected = journal.entries.at(-1)

/**
 * Where drizzle's migrator (and @rdskit/rds `migrate()`) records applied migrations. Kept in one place
 * so /health and the migrate step agree.
 */
export const migrationsTable = { schema: 'drizzle', table: '__drizzle_migrations' } as const

interface AppliedRow extends Record<string, unknown> {
  applied: number
  latest: string | null
}

const appliedMigrations = async (context: AppContext): Promise<AppliedRow> => {
  try {
    const rows = await context.db.execute<AppliedRow>(sql`
      select count(*)::int as applied, max(created_at)::text as latest
      from ${sql.identifier(migrationsTable.schema)}.${sql.identifier(migrationsTable.table)}`)
    return rows[0] ?? { applied: 0, latest: null }
  } catch (error) {
    // 42P01 undefined_table: nothing was ever migrated; that is "not current", not a crash.
    if (findInChain(error, (e): e is { code: string } => e.code === '42P01'))
      return { applied: 0, latest: null }
    throw error
  }
}

/**
 * 200 when the database answers and its newest applied migration is the newest this code ships with;
 * 503 otherwise (a load balancer or deploy check should wait, not page).
 */
const health = async (_event: unknown, context: AppContext) => {
  const { applied, latest } = await appliedMigrations(context)
  // Newer than expected is current too: during a deploy the migrate step runs before the code switches.
  const current = expected !== undefined && latest !== null && Number(latest) >= expected.when
  const migrations = { applied, expected: journal.entries.length, latest: expected?.tag ?? null, current }
  if (!current) {
    throw new ProblemError(
      503,
      'migrations-pending',
      'Migrations pending',
      `The database has ${applied} of ${journal.entries.length} migrations; run the migrate step.`,
      { headers: { 'Retry-After': '30' } },
    )
  }
  return json(200, { status: 'ok', database: 'reachable', migrations }, { 'Cache-Control': 'no-store' })
}

export const healthRoutes = (dependencies: RouteStep[]) => [
  route('GET', '/health', [validate({ query: emptyQuery })], health, dependencies),
]
