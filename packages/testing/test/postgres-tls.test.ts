import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PostgresCluster, startPostgres } from '../src/index.ts'

let cluster: PostgresCluster
let other: PostgresCluster

beforeAll(async () => {
  ;[cluster, other] = await Promise.all([startPostgres({ tls: true }), startPostgres({ tls: true })])
})
afterAll(async () => {
  await Promise.all([cluster?.stop(), other?.stop()])
})

async function tryConnect(options: postgres.Options<Record<string, never>>): Promise<unknown> {
  const sql = postgres({
    host: cluster.host,
    port: cluster.port,
    user: cluster.user,
    password: cluster.password,
    database: cluster.database,
    max: 1,
    connect_timeout: 5,
    onnotice: () => {},
    ...options,
  })
  try {
    const [row] = await sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`
    return row?.ssl
  } finally {
    await sql.end({ timeout: 0 })
  }
}

describe('a TLS cluster', () => {
  test('hands out its CA and a URL that asks for verify-full', () => {
    expect(cluster.ca).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(cluster.url).toMatch(/\?sslmode=verify-full$/)
    expect(cluster.ca).not.toBe(other.ca)
  })

  test('accepts a client that verifies the certificate against its CA (verify-full)', async () => {
    await expect(tryConnect({ ssl: { ca: cluster.ca, rejectUnauthorized: true } })).resolves.toBe(true)
  })

  test('accepts the URL with the CA passed alongside it', async () => {
    const sql = postgres(cluster.url, { ssl: { ca: cluster.ca, rejectUnauthorized: true }, max: 1 })
    const [row] = await sql`select current_user as user`
    await sql.end()
    expect(row?.user).toBe('postgres')
  })

  test("is rejected by a client that trusts another cluster's CA", async () => {
    await expect(tryConnect({ ssl: { ca: other.ca, rejectUnauthorized: true } })).rejects.toMatchObject({
      code: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT_SIGNATURE_FAILURE/),
    })
  })

  test('is rejected by a client expecting another host name (the certificate covers localhost and 127.0.0.1)', async () => {
    await expect(
      tryConnect({ ssl: { ca: cluster.ca, rejectUnauthorized: true, servername: 'db.example.com' } }),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  })

  test('refuses a client without TLS with SQLSTATE 28000, like rds.force_ssl', async () => {
    await expect(tryConnect({ ssl: false })).rejects.toMatchObject({
      code: '28000',
      message: expect.stringMatching(/no pg_hba\.conf entry.*no encryption/),
    })
  })

  test('keeps the key readable by the server only', async () => {
    const { stat } = await import('node:fs/promises')
    const key = await stat(`${cluster.dir}/server.key`)
    expect(key.mode & 0o777).toBe(0o600)
  })
})

test('the TLS cluster pg_hba.conf has only hostssl lines', async () => {
  const { readFile } = await import('node:fs/promises')
  const rules = (await readFile(`${cluster.dir}/data/pg_hba.conf`, 'utf8'))
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
  expect(rules.length).toBeGreaterThan(0)
  for (const rule of rules) expect(rule).toMatch(/^hostssl all all \S+ scram-sha-256$/)
})
