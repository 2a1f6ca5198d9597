import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { migrate } from '../src/index.ts'
import { configOf, container, resetAll, sharedTls } from './helpers.ts'

afterAll(resetAll)

const migrationsFolder = join(import.meta.dirname, 'fixtures/migrations')
const cluster = await sharedPostgres.cluster()
const tls = sharedTls()

describe('migrate()', () => {
  it('applies each migration exactly once when five deploys run it concurrently on an empty database', async () => {
    const database = await cluster.createDatabase()
    try {
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          migrate({ config: configOf(database), tls, migrationsFolder, logger: { warn() {} } }),
        ),
      )
      expect(results.map((r) => r.applied)).toEqual([2, 2, 2, 2, 2])
      const rows = await database.sql`select hash from drizzle.__drizzle_migrations`
      expect(rows).toHaveLength(2)
      expect(new Set(rows.map((r) => r.hash)).size).toBe(2)
      const columns =
        await database.sql`select column_name from information_schema.columns where table_name = 'notes' order by 1`
      expect(columns.map((c) => c.column_name)).toEqual(['body', 'created_at', 'id'])
      const locks = await database.sql`select count(*)::int as n from pg_locks where locktype = 'advisory'`
      expect(locks[0]?.n).toBe(0)
    } finally {
      await database.drop()
    }
  })

  it('runs from inside a Lambda handler on context.db', async () => {
    const database = await cluster.createDatabase()
    try {
      const c = container({ config: configOf(database), tls, logger: { warn() {} } }, async (_e, ctx) =>
        migrate({ db: ctx.db, migrationsFolder }),
      )
      expect(await c.invoke()).toEqual({ applied: 2 })
      // The second run meets `schema "drizzle" already exists, skipping`: a NOTICE rds drops by default, where
      // postgres.js would console.log it into the function's log.
      const printed = vi.spyOn(console, 'log')
      expect(await c.invoke()).toEqual({ applied: 2 })
      expect(printed).not.toHaveBeenCalled()
      printed.mockRestore()
    } finally {
      await resetAll()
      await database.drop()
    }
  })

  it('reports a failing migration as MIGRATION_FAILED with its SQLSTATE and leaves nothing applied', async () => {
    const database = await cluster.createDatabase()
    const folder = mkdtempSync(join(tmpdir(), 'rds-bad-migration-'))
    mkdirSync(join(folder, 'meta'))
    writeFileSync(
      join(folder, 'meta/_journal.json'),
      JSON.stringify({
        version: '7',
        dialect: 'postgresql',
        entries: [{ idx: 0, version: '7', when: 1, tag: '0000_bad', breakpoints: true }],
      }),
    )
    writeFileSync(
      join(folder, '0000_bad.sql'),
      'CREATE TABLE ok (id int);\n--> statement-breakpoint\nSELECT * FROM missing_table;',
    )
    try {
      const error = await migrate({
        config: configOf(database),
        tls,
        migrationsFolder: folder,
        logger: { warn() {} },
      }).catch((e: unknown) => e)
      expect(error).toMatchObject({ name: 'RdsError', code: 'MIGRATION_FAILED', sqlstate: '42P01' })
      const tables =
        await database.sql`select count(*)::int as n from information_schema.tables where table_name = 'ok'`
      expect(tables[0]?.n).toBe(0)
    } finally {
      rmSync(folder, { recursive: true, force: true })
      await database.drop()
    }
  })

  it('names the missing option', async () => {
    await expect(migrate({ migrationsFolder } as never)).rejects.toMatchObject({ code: 'INVALID_OPTION' })
    await expect(migrate({ config: {} } as never)).rejects.toThrow(/migrationsFolder/)
  })
})
