import { randomBytes } from 'node:crypto'
import { getCACertificates, setDefaultCACertificates } from 'node:tls'
import { sharedPostgres } from '@rdskit/testing/vitest'
import postgres from 'postgres'
import { expect, test } from 'vitest'
import journal from '../drizzle/meta/_journal.json' with { type: 'json' }
import { handler, migrateDatabase } from '../src/migrate-handler.ts'
import { migrationsFolder } from './support/harness.ts'

const cluster = await sharedPostgres.cluster()
// The step verifies against the default CA store, which Lambda extends with the RDS bundle
// (NODE_EXTRA_CA_CERTS); here the test cluster's CA is added to it the same way.
setDefaultCACertificates([...getCACertificates('default'), cluster.ca as string])

const connectAs = (
  db: { host: string; port: number; database: string },
  username: string,
  password: string,
) =>
  postgres({
    host: db.host,
    port: db.port,
    database: db.database,
    username,
    password,
    ssl: { ca: cluster.ca as string },
    max: 1,
    onnotice: () => {},
  })

test('the migrate step creates the app role from a SCRAM verifier, migrates as it, and re-runs idempotently', async () => {
  const db = await sharedPostgres.testDatabase()
  const appUser = `app_${randomBytes(4).toString('hex')}`
  const target = {
    host: db.host,
    port: db.port,
    database: db.database,
    appUser,
    appPassword: randomBytes(18).toString('base64url'),
    master: { username: cluster.user, password: cluster.password },
    tls: 'verify-full' as const,
    migrationsFolder,
  }
  expect(await migrateDatabase(target)).toEqual({ roleCreated: true, applied: journal.entries.length })

  // The server holds a SCRAM verifier, never the plaintext.
  const [role] = await cluster.sql<
    { rolpassword: string }[]
  >`select rolpassword from pg_authid where rolname = ${appUser}`
  expect(role?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/)
  expect(role?.rolpassword).not.toContain(target.appPassword)

  // The app logs in with the password and owns the tables it migrated.
  const app = connectAs(db, appUser, target.appPassword)
  const [owner] = await app`select tableowner from pg_tables where tablename = 'notes'`
  expect(owner?.tableowner).toBe(appUser)
  await app.end()

  // A second deploy with a rotated password: the role is altered, nothing is migrated twice.
  const rotated = { ...target, appPassword: randomBytes(18).toString('base64url') }
  expect(await migrateDatabase(rotated)).toEqual({ roleCreated: false, applied: journal.entries.length })
  const again = connectAs(db, appUser, rotated.appPassword)
  expect(await again`select 1 as ok`).toEqual([{ ok: 1 }])
  await again.end()
  await expect(connectAs(db, appUser, target.appPassword)`select 1`).rejects.toMatchObject({ code: '28P01' })
})

test('on stack deletion the migrate step does nothing (data is never dropped as a side effect)', async () => {
  await expect(handler({ RequestType: 'Delete', PhysicalResourceId: 'pid-1' })).resolves.toEqual({
    PhysicalResourceId: 'pid-1',
  })
})
