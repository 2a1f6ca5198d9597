import { afterAll, beforeAll, expect, test } from 'vitest'
import { type PostgresCluster, startPostgres } from '../src/index.ts'

let server: PostgresCluster
const saved = process.env.TEST_DATABASE_URL

beforeAll(async () => {
  server = await startPostgres({ throwaway: true })
  process.env.TEST_DATABASE_URL = server.url
})
afterAll(async () => {
  if (saved === undefined) delete process.env.TEST_DATABASE_URL
  else process.env.TEST_DATABASE_URL = saved
  await server?.stop()
})

test('startPostgres() uses the server TEST_DATABASE_URL names instead of starting one', async () => {
  const external = await startPostgres({ roles: [{ name: 'ext_app', password: 'pw' }] })
  expect(external).toMatchObject({ external: true, pid: undefined, port: server.port, version: 17 })
  const db = await external.createDatabase()
  expect(db.url).toContain(`127.0.0.1:${server.port}/${db.database}`)
  const [row] = await db.sql`select current_database() as name`
  expect(row?.name).toBe(db.database)
  await db.drop()
  const [role] = await server.sql`select 1 as found from pg_roles where rolname = 'ext_app'`
  expect(role?.found).toBe(1)
  await external.stop()
  await expect(server.sql`select 1 as one`).resolves.toEqual([{ one: 1 }])
})

test('pause and resume on the external server fail with an error naming TEST_DATABASE_URL', async () => {
  const external = await startPostgres()
  await expect(external.pause()).rejects.toThrow(/TEST_DATABASE_URL/)
  await expect(external.resume()).rejects.toThrow(/TEST_DATABASE_URL/)
  await external.stop()
})

test('options that need control of the server still start a throwaway cluster', async () => {
  const own = await startPostgres({ settings: { idle_session_timeout: '9s' } })
  try {
    expect(own.external).toBe(false)
    expect(own.port).not.toBe(server.port)
    expect(own.pid).toBeGreaterThan(0)
  } finally {
    await own.stop()
  }
})

test('a TEST_DATABASE_URL that is not a postgres URL is named in the error', async () => {
  process.env.TEST_DATABASE_URL = 'mysql://nope'
  try {
    await expect(startPostgres()).rejects.toThrow(/TEST_DATABASE_URL must start with postgres:\/\//)
  } finally {
    process.env.TEST_DATABASE_URL = server.url
  }
})
