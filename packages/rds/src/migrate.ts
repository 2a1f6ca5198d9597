import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator'
import postgres, { type Options, type PostgresType, type Sql } from 'postgres'
import { createClient, identityOf, type RdsClient } from './connection/client.ts'
import { RdsError } from './errors.ts'
import { checkLogger, resolveOptions, type TlsOption } from './options.ts'

export interface MigrateOptions {
  /** A drizzle instance (e.g. `context.db` inside a Lambda). Its migrations run on it; the lock on a second connection. */
  db?: PostgresJsDatabase<Record<string, unknown>> & { $client: Sql }
  /** Or postgres.js options (host, port, database, username, password…), as for rds(); connections are closed after. */
  config?: Options<Record<string, PostgresType>>
  /** TLS for `config`, as the rds() option. Default 'verify-full'. */
  tls?: TlsOption
  /** The folder drizzle-kit generated (holds meta/_journal.json). */
  migrationsFolder: string
  /** Default '__drizzle_migrations'. */
  migrationsTable?: string
  /** Default 'drizzle'. */
  migrationsSchema?: string
  /**
   * Receives migrate()'s warnings (`tls: 'require'` or `false` for `config`), as rds()'s `logger` does; never a
   * secret. Default console.
   */
  logger?: { warn(message: string): void }
}

export interface MigrateResult {
  /** Migrations recorded in the migrations table after the run. */
  applied: number
}

const noop = () => {}

/** A dedicated connection with the same target and credentials as `sql`, for the session-level lock. */
function lockConnection(sql: Sql): Sql {
  const o = sql.options as unknown as Record<string, unknown>
  return postgres({
    host: o.host as string[] as unknown as string,
    port: o.port as number[] as unknown as number,
    user: o.user as string,
    pass: o.pass as string,
    database: o.database as string,
    ssl: o.ssl as boolean,
    socket: o.socket,
    connection: { application_name: '@rdskit/rds migrate lock' },
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    onnotice: noop,
  } as unknown as Options<Record<string, PostgresType>>)
}

/**
 * Applies drizzle-kit migrations under a PostgreSQL advisory lock, so concurrent deploys (or cold starts)
 * apply each migration exactly once: the second waits for the first, then finds nothing left to do.
 * Connect directly to the database, not through a transaction pooler: a session lock does not survive one.
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  if (!options || typeof options.migrationsFolder !== 'string' || !options.migrationsFolder) {
    throw new RdsError(
      'INVALID_OPTION',
      'migrate(): option `migrationsFolder` must be the folder drizzle-kit generated',
      {
        hint: "e.g. migrate({ config, migrationsFolder: './drizzle' })",
      },
    )
  }
  if (!options.db === !options.config) {
    throw new RdsError('INVALID_OPTION', 'migrate(): pass exactly one of `db` and `config`', {
      hint: 'db: a drizzle instance you already have (context.db); config: connection options for a one-off client',
    })
  }
  checkLogger(options.logger, 'migrate')
  const migrationsTable = options.migrationsTable ?? '__drizzle_migrations'
  const migrationsSchema = options.migrationsSchema ?? 'drizzle'
  let owned: RdsClient | undefined
  let db = options.db
  if (options.config) {
    const resolved = resolveOptions({
      config: { ...options.config, max: 1, onnotice: noop },
      tls: options.tls ?? 'verify-full',
      statementTimeout: false,
      logger: options.logger ?? console,
    })
    owned = createClient(resolved, {
      identity: identityOf(resolved.config),
      password: typeof options.config.password === 'string' ? options.config.password : undefined,
    })
    db = owned.db
  }
  const target = db as NonNullable<typeof db>
  const lock = lockConnection(target.$client)
  const key = `rdskit:migrate:${migrationsSchema}.${migrationsTable}`
  try {
    await lock`select pg_advisory_lock(hashtextextended(${key}, 0))`
    try {
      await drizzleMigrate(target, {
        migrationsFolder: options.migrationsFolder,
        migrationsTable,
        migrationsSchema,
      })
    } catch (error) {
      if (error instanceof RdsError) throw error
      const code = (error as { cause?: { code?: unknown } }).cause?.code
      throw new RdsError('MIGRATION_FAILED', `migrate(): a migration in ${options.migrationsFolder} failed`, {
        sqlstate: typeof code === 'string' ? code : undefined,
        cause: error,
        hint: 'the migration transaction was rolled back; fix the SQL (see cause) and deploy again',
      })
    }
    const [row] =
      await lock`select count(*)::int as applied from ${lock(migrationsSchema)}.${lock(migrationsTable)}`
    return { applied: (row?.applied as number) ?? 0 }
  } finally {
    await lock`select pg_advisory_unlock(hashtextextended(${key}, 0))`.catch(noop)
    await lock.end({ timeout: 5 })
    await owned?.end()
  }
}
