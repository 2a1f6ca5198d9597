import { randomBytes } from 'node:crypto'
import { type PgBouncer, type PostgresCluster, requireSystemBinary, startPostgres } from '@rdskit/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadWindowMs, runContainers } from './containers.ts'
import { startTransactionPooler } from './support/pgbouncer.ts'

const app = {
  name: `app_${randomBytes(3).toString('hex')}`,
  password: `pw-${randomBytes(9).toString('hex')}`,
}
const pgbouncer = requireSystemBinary('pgbouncer')
let cluster: PostgresCluster
let bouncer: PgBouncer | undefined

beforeAll(async () => {
  cluster = await startPostgres({
    tls: true,
    maxConnections: 5,
    settings: { superuser_reserved_connections: 1 },
    roles: [{ ...app }],
  })
})
afterAll(async () => {
  await bouncer?.stop()
  await cluster?.stop()
})

describe('20 containers against max_connections = 5', () => {
  it(
    'each finishes or gets a retryable TOO_MANY_CONNECTIONS within its budget; none hangs',
    async () => {
      // 20 processes on a busy 2-core machine: a margin of 1 s between the client deadline and the budget.
      const budgetMs = 4_000
      const timeoutMargin = 1_000
      const { outcomes, release } = await runContainers(
        20,
        {
          config: {
            host: cluster.host,
            port: cluster.port,
            database: cluster.database,
            username: app.name,
            password: app.password,
          },
          tls: { ca: cluster.ca as string },
          timeoutMargin,
        },
        { budgetMs },
      )
      try {
        const ok = outcomes.filter((o) => o.outcome === 'ok')
        const refused = outcomes.filter((o) => o.outcome === 'TOO_MANY_CONNECTIONS')
        expect(ok.length + refused.length, JSON.stringify(outcomes)).toBe(20)
        expect(ok.length).toBeGreaterThanOrEqual(1)
        expect(ok.length).toBeLessThanOrEqual(4)
        expect(refused.every((o) => o.retryable === true)).toBe(true)
        for (const o of outcomes) expect(o.elapsed).toBeLessThan(budgetMs)
        // The refused ones backed off until their next wait would pass the client deadline (budget − margin),
        // so each gave up within one backoff cap (1 s) of it, not at once.
        const deadline = budgetMs - timeoutMargin
        for (const o of refused) expect(o.elapsed).toBeGreaterThanOrEqual(deadline - 1_000 - 50)
      } finally {
        await release()
      }
    },
    loadWindowMs + 60_000,
  )

  it.runIf(pgbouncer)(
    'all succeed through PgBouncer in transaction mode, holding no more server connections than its pool',
    async () => {
      bouncer = await startTransactionPooler(cluster, app)
      const { outcomes, release } = await runContainers(
        20,
        {
          config: {
            host: bouncer.host,
            port: bouncer.port,
            database: cluster.database,
            username: app.name,
            password: app.password,
          },
          tls: { ca: bouncer.ca as string },
          pooler: true,
        },
        { budgetMs: 8_000, statement: 'select pg_sleep(0.05)' },
      )
      try {
        expect(outcomes.map((o) => o.outcome)).toEqual(Array(20).fill('ok'))
        const serverSessions = await cluster.sessions({ user: app.name })
        expect(serverSessions.length).toBeLessThanOrEqual(2)
      } finally {
        await release()
      }
    },
    loadWindowMs + 60_000,
  )
})
