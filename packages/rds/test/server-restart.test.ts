// One writer restarting under single clients: the handshake after refused connects, the sharing of one
// reconnect between concurrent invocations, a statement the server refused as read-only (25006), and a
// server that accepts only after a long delay (Aurora Serverless v2 resuming from zero).
import { randomBytes } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import { startTcpProxy } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { describe, expect, test } from 'vitest'
import { findRdsError, RdsError } from '../src/errors.ts'
import { channelNames, type RecoverEvent } from '../src/events/index.ts'
import { writes } from './fixtures/writes.ts'
import { configOf, container } from './helpers.ts'
import { countRows, rdsOptionsOn } from './support/writes-cluster.ts'
import { writesClusterPerFile } from './support/writes-cluster-suite.ts'

const app = { name: 'rds_app', password: `pw-${randomBytes(9).toString('hex')}` }
const cluster = writesClusterPerFile(app)

/** rds options for the writer node's own port: while it is down, connects get a real ECONNREFUSED. */
const onWriterPort = (extra: Record<string, unknown> = {}) =>
  rdsOptionsOn(cluster(), app, cluster().writer(), extra)

async function whenDown(node: number) {
  while (cluster().node(node).pid !== undefined) await new Promise((resolve) => setImmediate(resolve))
}

const recoverSteps = () => {
  const steps: RecoverEvent[] = []
  const listener = (message: unknown) => steps.push(message as RecoverEvent)
  diagnostics.subscribe(channelNames.recover, listener)
  return { steps, stop: () => diagnostics.unsubscribe(channelNames.recover, listener) }
}

describe('server restarts', () => {
  test('an invocation that meets refused connects during a restart writes once the server is back: no handshake desync (08P01), no POOLER_INCOMPATIBLE', async () => {
    const writer = container(onWriterPort(), async (_event, context) => {
      await context.db.insert(writes).values({ token: 'after-refusal', container: 1 })
      return 'ok'
    })
    const warm = container(onWriterPort(), async (_event, context) => context.db.execute(sql`select 1`))
    await warm.invoke({}, 5_000)
    const restarting = cluster().restart({ mode: 'fast', downMs: 800 })
    await whenDown(cluster().writer().index)
    const [written, warmAgain] = await Promise.allSettled([writer.invoke({}, 6_000), warm.invoke({}, 6_000)])
    await restarting
    expect(written).toEqual({ status: 'fulfilled', value: 'ok' })
    expect(warmAgain.status).toBe('fulfilled')
    const rows = await countRows(cluster(), 'after-refusal')
    expect(rows).toBe(1)
  }, 30_000)

  test('concurrent invocations of one client that wait on the same restart share one backoff and one renewal at a time', async () => {
    const events = recoverSteps()
    const client = container(onWriterPort({ max: 4 }), async (_event, context) =>
      context.db.execute(sql`select 1`),
    )
    await client.invoke({}, 5_000)
    const restarting = cluster().restart({ mode: 'fast', downMs: 800 })
    await whenDown(cluster().writer().index)
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => client.invoke({}, 6_000)))
    await restarting
    events.stop()
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(6).fill('fulfilled'))
    const steps = events.steps.filter((step) => step.action === 'backoff' || step.action === 'reconnect')
    expect(steps.length).toBeGreaterThan(0)
    // The idle session's loss (57P01, a freeze: it ended while idle) is reported once for the six invocations,
    // then the shared reconnect:
    // backoff, reconnect, backoff, reconnect…: never two backoffs in flight.
    const [lost, ...shared] = steps
    expect(lost).toMatchObject({ action: 'reconnect', code: '57P01' })
    expect(shared.length).toBeGreaterThan(0)
    shared.forEach((step, index) => {
      expect(step.action).toBe(index % 2 === 0 ? 'backoff' : 'reconnect')
    })
    expect(shared.every((step) => step.reason === 'restart')).toBe(true)
  }, 30_000)

  test('a statement the server refused as read-only (25006) is re-run once on a new session and written exactly once', async () => {
    const writer = container(onWriterPort(), async (_event, context) => {
      // This session turns read-only; the next one rds opens does not.
      await context.db.$client.unsafe('set default_transaction_read_only = on')
      await context.db.insert(writes).values({ token: 'refused-then-rerun', container: 2 })
      return 'ok'
    })
    await expect(writer.invoke({}, 5_000)).resolves.toBe('ok')
    expect(await countRows(cluster(), 'refused-then-rerun')).toBe(1)
  })

  test('a session that stays read-only is reported as READ_ONLY (retryable, SQLSTATE 25006) once the re-run is refused too', async () => {
    const writer = container(
      onWriterPort({ connection: { default_transaction_read_only: 'on' } }),
      async (_event, context) => {
        await context.db.insert(writes).values({ token: 'always-refused', container: 3 })
      },
    )
    const error = await writer.invoke({}, 5_000).catch((caught: unknown) => caught)
    const found = findRdsError(error)
    expect(found).toBeInstanceOf(RdsError)
    expect(found?.code).toBe('READ_ONLY')
    expect(found?.sqlstate).toBe('25006')
    expect(found?.retryable).toBe(true)
    expect(await countRows(cluster(), 'always-refused')).toBe(0)
  })
})

const database = await sharedPostgres.testDatabase()

/** A container whose connects go through the delaying proxy and give up after 0.6 s (connect_timeout). */
const resumingClient = (proxy: { host: string; port: number }) =>
  container(
    {
      config: { ...configOf(database), host: proxy.host, port: proxy.port, connect_timeout: 0.6 },
      logger: { warn() {} },
    },
    async (_event, context) => context.db.execute(sql`select 1`),
  )

describe('a server that accepts only after a long delay (Aurora Serverless v2 resuming)', () => {
  test('connects that time out are retried within the budget and end as a retryable CONNECT_TIMEOUT with a resume hint', async () => {
    const proxy = await startTcpProxy({ target: database, acceptDelayMs: 5_000 })
    const events = recoverSteps()
    try {
      const client = resumingClient(proxy)
      const started = performance.now()
      const error = await client.invoke({}, 2_500).catch((caught: unknown) => caught)
      const elapsed = performance.now() - started
      const found = findRdsError(error)
      expect(found?.code).toBe('CONNECT_TIMEOUT')
      expect(found?.retryable).toBe(true)
      expect(found?.hint).toMatch(/resum/)
      expect(elapsed).toBeLessThan(2_500)
      expect(events.steps.filter((step) => step.action === 'reconnect').length).toBeGreaterThanOrEqual(1)
    } finally {
      events.stop()
      await proxy.stop()
    }
  })

  test('a server that resumes within the budget answers the same invocation, after connects longer than connect_timeout were cut', async () => {
    const proxy = await startTcpProxy({ target: database, acceptDelayMs: 5_000 })
    const events = recoverSteps()
    try {
      const client = resumingClient(proxy)
      const answered = client.invoke({}, 6_000)
      // Resumed: connections from now on are accepted at once.
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      proxy.setAcceptDelay(0)
      await expect(answered).resolves.toBeDefined()
      expect(events.steps.some((step) => step.action === 'reconnect')).toBe(true)
    } finally {
      events.stop()
      await proxy.stop()
    }
  })
})
