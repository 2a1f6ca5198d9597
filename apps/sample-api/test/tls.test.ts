import { type PostgresCluster, startPostgres } from '@rdskit/testing'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type AppUnderTest, roleOf, startApp } from './support/harness.ts'

/** A cluster that accepts only TLS (as RDS with rds.force_ssl), with its own CA, as in AWS. */
let cluster: PostgresCluster
beforeAll(async () => {
  cluster = await startPostgres({ tls: true })
})
afterAll(() => cluster?.stop())

describe('against a TLS-only server', () => {
  let app: AppUnderTest
  afterAll(() => app?.close())

  test('the app connects with verify-full when it trusts the server’s CA', async () => {
    app = await startApp({ database: await cluster.createDatabase(), tlsCa: cluster.ca })
    const created = await app.invoke('POST', '/notes', { body: { title: 'over TLS' } })
    expect(created.status).toBe(201)
    const [session] = await cluster.sql<{ ssl: boolean }[]>`
      select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) where a.usename = ${await roleOf(app)}`
    expect(session?.ssl).toBe(true)
  })
})

describe('with a CA that did not sign the server certificate', () => {
  let other: PostgresCluster
  let app: AppUnderTest
  afterAll(async () => {
    await app?.close()
    await other?.stop()
  })

  test('the app refuses the server and answers 500 naming nothing secret', async () => {
    other = await startPostgres({ tls: true })
    app = await startApp({ database: await cluster.createDatabase(), tlsCa: cluster.ca, appCa: other.ca })
    const reply = await app.invoke('GET', '/notes')
    expect(reply.status).toBe(500)
    expect(reply.json.detail).toBe('An unexpected error occurred. Quote the requestId when reporting it.')
    const line = app.logRecords().find((l) => l.level === 'ERROR')
    expect(line?.error).toContain('TLS_CERT_UNTRUSTED')
    expect(app.logs.join('\n')).not.toContain(app.password)
  })
})
