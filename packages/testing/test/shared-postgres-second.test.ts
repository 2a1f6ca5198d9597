import { expect, test } from 'vitest'
import { sharedPostgres } from '../src/vitest/index.ts'

let databaseName = ''

test('a database made inside a test is dropped after the file, like one made at the top level', async () => {
  const db = await sharedPostgres.testDatabase()
  databaseName = db.database
  await db.sql`create table t (id int)`
  const cluster = await sharedPostgres.cluster()
  const names = await cluster.sql`select datname from pg_database where datname like 'rdskit_%'`
  expect(names.map((row) => row.datname)).toContain(db.database)
  expect(databaseName).not.toBe('')
})
