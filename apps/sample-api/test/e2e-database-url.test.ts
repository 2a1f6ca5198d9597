import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { expect, test } from 'vitest'
import { caller, startLocalProcess } from './support/local-process.ts'

test('DATABASE_URL switches pnpm start to that database and user, and Ctrl-C leaves its data in place', async () => {
  const db = await sharedPostgres.testDatabase()
  const role = `own_${randomBytes(4).toString('hex')}`
  const password = randomBytes(18).toString('base64url')
  await db.sql.unsafe(`create role ${role} login password '${password}'`)
  await db.sql.unsafe(`alter database "${db.database}" owner to ${role}`)
  await db.sql.unsafe(`grant all on schema public to ${role}`)
  // verify-full against the run-wide cluster's CA, as a user's DATABASE_URL names its CA file.
  const caFile = join(mkdtempSync(join(tmpdir(), 'rdskit-e2e-')), 'ca.pem')
  writeFileSync(caFile, (await sharedPostgres.cluster()).ca ?? '')
  const databaseUrl = `postgres://${role}:${password}@${db.host}:${db.port}/${db.database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`

  const local = await startLocalProcess({ FUNCTION_NAME: 'rdskit-e2e-url', DATABASE_URL: databaseUrl })
  try {
    const { stderr } = local.output()
    expect(stderr).toContain(`database ${db.host}:${db.port}/${db.database} as ${role} (DATABASE_URL)`)
    expect(stderr).not.toContain('throwaway')
    expect(stderr).not.toContain(password)
    const call = caller(local.url)
    expect((await call('GET', '/health')).res.status).toBe(200)
    expect((await call('POST', '/notes', { title: 'kept' })).res.status).toBe(201)
  } finally {
    expect(await local.interrupt()).toBe(0)
  }
  const rows = await db.sql`select title from notes`
  expect(rows).toEqual([{ title: 'kept' }])
}, 120_000)
