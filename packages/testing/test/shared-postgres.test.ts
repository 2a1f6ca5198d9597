import postgres from 'postgres'
import { describe, expect, test } from 'vitest'
import { sharedPostgres } from '../src/vitest/index.ts'

const db = await sharedPostgres.testDatabase()
const connectionOptions = (d: typeof db) => ({
  host: d.host,
  port: d.port,
  database: d.database,
  username: d.user,
  password: d.password,
})

describe('sharedPostgres', () => {
  test('gives the test file its own database on the run-wide cluster', async () => {
    const [row] = await db.sql`select current_database() as name`
    expect(row?.name).toBe(db.database)
    expect(db.database).toMatch(/^rdskit_[0-9a-f]{10}$/)
    const cluster = await sharedPostgres.cluster()
    expect(cluster.port).toBe(db.port)
  })

  test('gives a second call in the same file a distinct database', async () => {
    const other = await sharedPostgres.testDatabase()
    expect(other.database).not.toBe(db.database)
    await other.sql`create table only_here (id int)`
    const [row] = await db.sql`select to_regclass('only_here') as found`
    expect(row?.found).toBeNull()
  })

  test.skipIf(process.env.TEST_DATABASE_URL)(
    'is TLS-only: its sessions are encrypted and a plaintext connection is refused',
    async () => {
      const cluster = await sharedPostgres.cluster()
      expect(cluster.ca).toMatch(/BEGIN CERTIFICATE/)
      expect(db.url).toMatch(/sslmode=verify-full/)
      const [row] = await db.sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`
      expect(row?.ssl).toBe(true)
      const plain = postgres({ ...connectionOptions(db), ssl: false, max: 1, onnotice: () => {} })
      try {
        await expect(plain`select 1`).rejects.toMatchObject({ code: '28000' })
      } finally {
        await plain.end({ timeout: 0 })
      }
    },
  )

  test('refuses to pause the run-wide cluster, which other files are using', async () => {
    const cluster = await sharedPostgres.cluster()
    await expect(cluster.pause()).rejects.toThrow(/shared by every test file.*startPostgres/)
  })

  test('stop() on the shared view leaves the cluster running', async () => {
    const cluster = await sharedPostgres.cluster()
    await cluster.stop()
    const [row] = await cluster.sql`select 1 as one`
    expect(row?.one).toBe(1)
  })
})
