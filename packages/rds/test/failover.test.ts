// What RDS and Aurora do to the server, under load: six warm containers (separate processes, each its own
// rds client) write unique rows through the cluster endpoint while the writer restarts, stalls, switches
// over or crashes behind a stale endpoint. Each scenario is counted on the writer after it: acknowledged
// writes lost, rows written twice, invocations past their budget, errors without a stable code, and how long
// each container took to write again once the writer accepted connections.
import { randomBytes } from 'node:crypto'
import { type ReplicatedCluster, startReplicatedCluster } from '@rdskit/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { clock, type Invocation, startWriters, type Tally, tally, type Writers } from './support/writers.ts'
import { createWrites, endpointConfig, onWriter } from './support/writes-cluster.ts'

const containers = 6
const budgetMs = 5_000
const app = { name: 'rds_app', password: `pw-${randomBytes(9).toString('hex')}` }
/** Once the writer accepts connections, every container must have written again within this (a loaded 2-core machine). */
const recoveryBoundMs = 3_000

let cluster: ReplicatedCluster
let writers: Writers

async function rowsOnWriter(): Promise<Map<string, number>> {
  const rows = await onWriter(
    cluster,
    (sql) => sql<{ token: string; n: number }[]>`
    select token, count(*)::int as n from writes group by token`,
  )
  return new Map(rows.map((row) => [row.token, row.n]))
}

/** Runs a fault, waits until every container wrote again, and counts the window on the writer. */
async function scenario(name: string, fault: () => Promise<{ backAt: number; stopAt: number }>) {
  const from = clock()
  const { backAt, stopAt } = await fault()
  await writers.allWroteAfter(backAt, budgetMs * 3)
  const window = writers.log.filter((entry: Invocation) => entry.ended >= from)
  const counted = tally(window, await rowsOnWriter(), {
    budgetMs,
    backAt,
    containers: Array.from({ length: containers }, (_, index) => index),
  })
  const failed = window
    .filter((entry) => entry.outcome !== 'ok')
    .map((entry) => `${entry.outcome} after ${Math.round(entry.ended - entry.began)} ms (${entry.detail})`)
  console.log(`[${name}] ${JSON.stringify(counted)} failed: ${failed.join(', ') || 'none'}`)
  // The fault met statements in flight: some invocation began before the server went away and ended after.
  const inFlight = window.filter((entry) => entry.began < stopAt && entry.ended > stopAt).length
  return { counted, inFlight }
}

function expectSurvived(counted: Tally) {
  expect(counted.lost).toBe(0)
  expect(counted.doubled).toBe(0)
  expect(counted.pastDeadline).toBe(0)
  expect(counted.withoutCode).toBe(0)
  for (const ms of counted.recoveryMs) expect(ms).toBeLessThan(recoveryBoundMs)
}

beforeAll(async () => {
  cluster = await startReplicatedCluster({ standbys: 2, synchronous: true, tls: true, roles: [app] })
  await onWriter(cluster, async (sql) => {
    await createWrites(sql, app)
    // Each write spends ~20 ms in the server: a fault then meets statements in flight.
    await sql.unsafe(`create function writes_take_time() returns trigger language plpgsql as
      $$ begin perform pg_sleep(0.02); return new; end $$`)
    await sql.unsafe(
      'create trigger writes_take_time before insert on writes for each row execute function writes_take_time()',
    )
  })
  writers = await startWriters(containers, {
    kind: 'rds',
    config: endpointConfig(cluster, app),
    ca: cluster.ca,
    budgetMs,
    pauseMs: 5,
  })
}, 120_000)

afterAll(async () => {
  await writers?.stop()
  await cluster?.stop()
}, 60_000)

describe('server restarts and failover under concurrent writes', () => {
  test('a fast restart (57P01 to every session, refused for 1.5 s) loses no acknowledged write, doubles none, and every container writes again once the writer accepts', async () => {
    const { counted, inFlight } = await scenario('fast restart', async () => {
      const at = clock()
      const report = await cluster.restart({ mode: 'fast', downMs: 1_500 })
      return { stopAt: at + report.stopMs, backAt: at + report.totalMs }
    })
    expect(inFlight).toBeGreaterThan(0)
    expectSurvived(counted)
  }, 60_000)

  test('an immediate restart (every backend killed mid-statement, crash recovery) cuts writes off as CONNECTION_LOST, never as a raw error, and recovers', async () => {
    const { counted, inFlight } = await scenario('immediate restart', async () => {
      const at = clock()
      const report = await cluster.restart({ mode: 'immediate', downMs: 500 })
      return { stopAt: at + report.stopMs, backAt: at + report.totalMs }
    })
    expect(inFlight).toBeGreaterThan(0)
    expectSurvived(counted)
    for (const outcome of Object.keys(counted.failures)) {
      expect(['CONNECTION_LOST', 'CONNECT_FAILED', 'CONNECT_TIMEOUT', 'TIMEOUT']).toContain(outcome)
    }
  }, 60_000)

  test('a 4 s stall right after a restart ends every invocation by its deadline with a success or a stable code', async () => {
    const { counted } = await scenario('stall after restart', async () => {
      const at = clock()
      const report = await cluster.restart({ mode: 'fast', downMs: 200 })
      await cluster.stall(4_000)
      return { stopAt: at + report.stopMs, backAt: clock() }
    })
    expectSurvived(counted)
  }, 60_000)

  test('a planned switchover moves every container to the new writer without losing or doubling a write', async () => {
    const { counted, inFlight } = await scenario('switchover', async () => {
      const at = clock()
      const report = await cluster.failover({ mode: 'switchover' })
      return { stopAt: at + report.stoppedMs, backAt: at + report.retargetedMs }
    })
    expect(inFlight).toBeGreaterThan(0)
    expectSurvived(counted)
  }, 60_000)

  test('a writer crash with the endpoint naming a read-only standby for 1.5 s (25006 there) ends on the promoted writer: read-only sessions are refused, not written to', async () => {
    const before = cluster.endpoint().target()
    let staleRefusal: string | undefined
    const { counted, inFlight } = await scenario('crash + stale endpoint', async () => {
      const at = clock()
      const failing = cluster.failover({ mode: 'crash', staleMs: 1_500 })
      // While the endpoint names the standby, a client with no writer check gets 25006 there.
      const stale = await waitFor(() => {
        const target = cluster.endpoint().target()
        return target !== before && cluster.node(target).role === 'standby' ? target : undefined
      })
      staleRefusal = await probeWrite(stale)
      const report = await failing
      return { stopAt: at + report.stoppedMs, backAt: at + report.retargetedMs }
    })
    expect(staleRefusal).toBe('25006')
    expect(inFlight).toBeGreaterThan(0)
    expectSurvived(counted)
    // No write reached a caller as refused by the read-only node: the writer check kept them off it.
    expect(counted.failures.READ_ONLY ?? 0).toBe(0)
  }, 60_000)

  test('over the whole run, every acknowledged write is on the final writer exactly once', async () => {
    // Only writes acknowledged before the count began: the containers keep writing meanwhile.
    const acknowledged = writers.log.filter((entry) => entry.outcome === 'ok')
    const rows = await rowsOnWriter()
    expect(acknowledged.length).toBeGreaterThan(0)
    const wrong = acknowledged.filter((entry) => rows.get(entry.token) !== 1)
    expect(wrong).toEqual([])
  })
})

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const until = performance.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (performance.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** An insert through the endpoint by a plain postgres.js client: the SQLSTATE it gets, if any. */
async function probeWrite(expectedTarget: number): Promise<string | undefined> {
  const sql = postgres({
    ...endpointConfig(cluster, app),
    ssl: { ca: cluster.ca as string },
    max: 1,
  })
  try {
    if (cluster.endpoint().target() !== expectedTarget) return 'endpoint moved on'
    await sql`insert into writes (token, container) values (${'probe'}, ${-1})`
    return undefined
  } catch (error) {
    return (error as { code?: string }).code
  } finally {
    await sql.end({ timeout: 0 })
  }
}
