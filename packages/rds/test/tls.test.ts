import { rootCertificates } from 'node:tls'
import { type PostgresCluster, startPostgres } from '@rdskit/testing'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TlsOption } from '../src/index.ts'
import { container, resetAll } from './helpers.ts'

describe('TLS against a TLS-only server (as RDS with rds.force_ssl)', () => {
  let cluster: PostgresCluster
  beforeAll(async () => {
    cluster = await startPostgres({ tls: true })
  })
  afterAll(async () => {
    await resetAll()
    await cluster?.stop()
  })

  const connect = (tls: TlsOption, warnings: string[] = [], host?: string) =>
    container(
      {
        config: {
          host: host ?? cluster.host,
          port: cluster.port,
          database: cluster.database,
          username: cluster.user,
          password: cluster.password,
        },
        tls,
        logger: { warn: (message) => warnings.push(message) },
      },
      async (_e, ctx) =>
        (await ctx.db.execute(sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`))[0]?.ssl,
    ).invoke()

  it('connects with verify-full against the cluster CA', async () => {
    const warnings: string[] = []
    expect(await connect({ ca: cluster.ca as string }, warnings)).toBe(true)
    expect(warnings).toEqual([])
  })

  it('verifies a host name, not only an IP address', async () => {
    expect(await connect({ ca: cluster.ca as string }, [], 'localhost')).toBe(true)
  })

  it('rejects a certificate from another CA with TLS_CERT_UNTRUSTED and a hint about tls.ca', async () => {
    const error = await connect({ ca: rootCertificates[0] as string }).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'RdsError', code: 'TLS_CERT_UNTRUSTED', retryable: false })
    expect((error as { hint: string }).hint).toMatch(/tls: \{ ca \}/)
  })

  it('does not trust the server by default outside Lambda when its CA is not in the default store', async () => {
    await expect(connect('verify-full')).rejects.toMatchObject({ code: 'TLS_CERT_UNTRUSTED' })
  })

  it('rejects a certificate issued for another name with TLS_HOSTNAME_MISMATCH and a hint', async () => {
    const error = await connect({ ca: cluster.ca as string, servername: 'db.example.com' }).catch(
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ name: 'RdsError', code: 'TLS_HOSTNAME_MISMATCH' })
    expect((error as Error).message).toMatch(/not valid for host/)
    expect((error as { hint: string }).hint).toMatch(/never skipped/)
  })

  it("encrypts without verifying only when asked with 'require', and warns", async () => {
    const warnings: string[] = []
    expect(await connect('require', warnings)).toBe(true)
    expect(warnings.join('\n')).toMatch(/not verified/)
  })

  it('has a non-TLS attempt rejected by the server, explained by the hint', async () => {
    const warnings: string[] = []
    const error = await connect(false, warnings).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'RdsError', code: 'CONNECTION_REJECTED', sqlstate: '28000' })
    expect((error as { hint: string }).hint).toMatch(/TLS/)
    expect(warnings.join('\n')).toMatch(/not encrypted/)
  })
})
