import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ReplicatedCluster, startReplicatedCluster } from '@rdskit/testing'
import type { Sql } from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type LocalProcess, startLocalProcess } from './support/local-process.ts'
import { type Attempt, type NoteWriters, startNoteWriters } from './support/note-writers.ts'

/**
 * `pnpm start` with DATABASE_URL naming the cluster endpoint of a replicated PostgreSQL (TLS verify-full,
 * a synchronous standby), while six clients write notes with Idempotency-Keys and retry what fails with the
 * same key. The database restarts, stalls and fails over under them; every answer must be 2xx/4xx, or 503
 * with Retry-After, within the local server's invocation timeout, and every acknowledged note must be there
 * exactly once at the end.
 */
const clients = 6
/** The local server's invocation timeout (startLocalApi's default, API Gateway's 29 s). */
const invocationTimeoutMs = 29_000
/** How long after the writer is back every client must have written again. */
const recoveryWindowMs = 20_000
const prefix = `e2e-faults ${randomBytes(3).toString('hex')}`
const outcomeUnknown = 'urn:rdskit:problem:write-outcome-unknown'

let cluster: ReplicatedCluster
let local: LocalProcess
let writers: NoteWriters
/** Per fault, the slowest and fastest client recovery: printed once at the end. */
const recoveries: string[] = []

beforeAll(async () => {
  const app = { name: 'app', password: randomBytes(18).toString('base64url') }
  cluster = await startReplicatedCluster({ standbys: 1, synchronous: true, tls: true, roles: [app] })
  await cluster.connect('endpoint').unsafe('create database app owner app')
  const caFile = join(mkdtempSync(join(tmpdir(), 'rdskit-e2e-faults-')), 'ca.pem')
  writeFileSync(caFile, cluster.ca ?? '')
  const endpoint = cluster.endpoint()
  const databaseUrl = `postgres://app:${app.password}@${endpoint.host}:${endpoint.port}/app?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`
  // One process serves the six clients concurrently over rds's one connection (max: 1, as in a container):
  // their invocations share its statements, its recovery and its backoff.
  local = await startLocalProcess({ FUNCTION_NAME: 'rdskit-e2e-faults', DATABASE_URL: databaseUrl })
  writers = startNoteWriters({
    url: local.url,
    clients,
    prefix,
    retryPauseMs: 100,
    abortAfterMs: invocationTimeoutMs + 10_000,
  })
  await writers.allWroteAfter(0, 60_000)
}, 180_000)

afterAll(async () => {
  console.log(`[recovery per client, from the writer being back to its next 201] ${recoveries.join('; ')}`)
  if (process.env.E2E_FAULTS_LOG && local) {
    const { stdout, stderr } = local.output()
    writeFileSync(process.env.E2E_FAULTS_LOG, `${stdout}\n${stderr}`)
  }
  await writers?.stop()
  if (local?.child.exitCode === null) await local.interrupt()
  await cluster?.stop()
}, 60_000)

/** The application's own log line of a failed request: its error chain names the rds error code. */
const logLineOf = (requestId: string | null) =>
  // Powertools writes ERROR lines (a failed request's) to stderr, the others to stdout.
  Object.values(local.output())
    .join('\n')
    .split('\n')
    .filter((line) => line.startsWith('{') && requestId !== null && line.includes(requestId))
    .map((line) => JSON.parse(line) as { error?: string; errorCauses?: string[] })
    .find((line) => line.error)

const describeAttempt = (a: Attempt) => {
  const log = logLineOf(a.requestId)
  const chain = log ? [log.error, ...(log.errorCauses ?? [])].join(' ← ') : 'no log line'
  return `client ${a.client} try ${a.try}: ${a.status} ${a.type ?? ''} after ${Math.round(a.ms)} ms (${chain})`
}

/** What a client of the API must never see during a fault. */
const unacceptable = (a: Attempt) =>
  a.status === 0 ||
  a.ms >= invocationTimeoutMs ||
  (a.status >= 500 && !(a.status === 503 && a.retryAfter !== null))

interface FaultRun {
  attempts: Attempt[]
  /** Per client: from the writer being back to its first acknowledged write sent after that. */
  recoveryMs: number[]
  /** Requests sent before the database went away and answered after: the fault met them in flight. */
  inFlight: number
}

/** When, in ms from the fault's start, the database went away and when it accepted writes again. */
interface FaultTimes {
  stopMs: number
  backMs: number
}

/**
 * Injects a fault while the clients write; `inject` resolves to when the database went away and when it
 * was back (accepting writes on the endpoint). Waits until every client wrote again, then reports.
 */
async function underFault(name: string, inject: () => Promise<FaultTimes>): Promise<FaultRun> {
  const at = performance.now()
  // Attempts are recorded as they end: the fault's are those that ended after it began (the ones held in
  // flight by holdWritesInFlight began before).
  const from = writers.attempts.length
  const times = await inject()
  const stopAt = at + times.stopMs
  const backAt = at + times.backMs
  const recovered = writers.allWroteAfter(backAt, recoveryWindowMs)
  await recovered.catch(() => {})
  const attempts = writers.attempts.slice(from)
  const recoveryMs = Array.from({ length: clients }, (_, client) => {
    const first = attempts.find((a) => a.client === client && a.status === 201 && a.began >= backAt)
    return first ? first.began + first.ms - backAt : Number.POSITIVE_INFINITY
  })
  const inFlight = attempts.filter((a) => a.began < stopAt && a.began + a.ms > stopAt).length
  const statuses = new Map<string, number>()
  for (const a of attempts) {
    const label = `${a.status}${a.type ? ` ${a.type.replace('urn:rdskit:problem:', '')}` : ''}`
    statuses.set(label, (statuses.get(label) ?? 0) + 1)
  }
  const slowest = Math.max(...attempts.map((a) => a.ms))
  console.log(
    `[${name}] back after ${Math.round(backAt - at)} ms; ${inFlight} in flight; ${attempts.length} requests: ` +
      `${[...statuses].map(([label, n]) => `${label} ×${n}`).join(', ')}; slowest ${Math.round(slowest)} ms; ` +
      `recovery per client ${recoveryMs.map((ms) => `${Math.round(ms)} ms`).join(', ')}`,
  )
  for (const a of attempts.filter((a) => a.status >= 500 || a.status === 0).slice(0, 12))
    console.log(`[${name}]   ${describeAttempt(a)}`)
  recoveries.push(`${name} ${Math.round(Math.min(...recoveryMs))}–${Math.round(Math.max(...recoveryMs))} ms`)
  await recovered
  return { attempts, recoveryMs, inFlight }
}

/** Met requests in flight, answered every one acceptably, and every client wrote again within the window. */
const expectSurvived = (run: FaultRun) => {
  expect(run.inFlight).toBeGreaterThan(0)
  expect(run.attempts.filter(unacceptable).map(describeAttempt)).toEqual([])
  for (const ms of run.recoveryMs) expect(ms).toBeLessThan(recoveryWindowMs)
}

/** Holds a SHARE lock on `notes` so note inserts wait on it: a write is in flight when the fault hits. */
async function holdWritesInFlight(): Promise<Sql> {
  const writer = cluster.writer().index
  const sql = cluster.connect(writer, { database: 'app', max: 1 })
  let locked!: () => void
  const lockTaken = new Promise<void>((resolve) => {
    locked = resolve
  })
  // The transaction's callback never returns: it ends when the server takes the session down.
  void sql
    .begin(async (tx) => {
      await tx`lock table notes in share mode`
      locked()
      await new Promise(() => {}) // until the server goes away
    })
    .catch(() => {})
  await lockTaken
  // The API's session is waiting on the lock with a note insert: a write is in flight (the other clients'
  // invocations queue behind it on the same connection). Watched from a session of its own: `sql`'s one
  // connection is held by the transaction.
  const watch = cluster.connect(writer, { database: 'app', max: 1 })
  try {
    await expect
      .poll(
        async () =>
          (
            await watch`select count(*)::int as n from pg_stat_activity
                        where usename = 'app' and wait_event_type = 'Lock'`
          )[0]?.n,
        { timeout: 10_000, interval: 50 },
      )
      .toBeGreaterThanOrEqual(1)
  } finally {
    await watch.end({ timeout: 0 })
  }
  return sql
}

describe('the sample API through pnpm start, while its PostgreSQL restarts, stalls and fails over', () => {
  test('a fast restart with a note insert in flight: 503 write-outcome-unknown, then one note per key', async () => {
    const inFlight = await holdWritesInFlight()
    const run = await underFault('fast restart', async () => {
      const report = await cluster.restart({ mode: 'fast', downMs: 1_500 })
      return { stopMs: report.stopMs, backMs: report.totalMs }
    })
    await inFlight.end({ timeout: 0 })
    expectSurvived(run)
    // The writes held by the lock were cut off by FATAL 57P01: their outcome is unknown to the server's client.
    const cutOff = run.attempts.filter((a) => a.status === 503 && a.type === outcomeUnknown)
    expect(cutOff.length).toBeGreaterThanOrEqual(1)
    // Each was retried with its key until acknowledged.
    for (const a of cutOff) expect(writers.acknowledged.has(a.title), a.title).toBe(true)
  }, 90_000)

  test('an immediate restart (crash recovery) while the clients write', async () => {
    const run = await underFault('immediate restart', async () => {
      const report = await cluster.restart({ mode: 'immediate', downMs: 1_000 })
      return { stopMs: report.stopMs, backMs: report.totalMs }
    })
    expectSurvived(run)
  }, 90_000)

  test('a 4 s stall right after a restart', async () => {
    const run = await underFault('restart, then a 4 s stall', async () => {
      const started = performance.now()
      const report = await cluster.restart({ mode: 'fast', downMs: 500 })
      await cluster.stall(4_000)
      return { stopMs: report.stopMs, backMs: performance.now() - started }
    })
    expectSurvived(run)
  }, 90_000)

  test('a switchover: the writer shut down cleanly, the standby promoted, the old writer back as its standby', async () => {
    const run = await underFault('switchover', async () => {
      const report = await cluster.failover({ mode: 'switchover' })
      return { stopMs: report.stoppedMs, backMs: report.retargetedMs }
    })
    expectSurvived(run)
  }, 90_000)

  // Last: the crashed writer stays down, so the cluster has no standby left for another failover.
  test('a writer crash, the endpoint naming the read-only standby for 1.5 s, then the promoted standby', async () => {
    const run = await underFault('failover', async () => {
      const report = await cluster.failover({ mode: 'crash', staleMs: 1_500 })
      return { stopMs: report.stoppedMs, backMs: report.retargetedMs }
    })
    expectSurvived(run)
  }, 90_000)

  test('every acknowledged note is on the new writer exactly once, and no note was written twice', async () => {
    await writers.stop()
    const sql = cluster.connect(cluster.writer().index, { database: 'app', max: 1 })
    const rows = await sql<{ title: string; ids: string[] }[]>`
      select title, array_agg(id::text) as ids from notes where title like ${`${prefix} %`} group by title`
    const stored = new Map(rows.map((row) => [row.title, row.ids]))
    const lost = [...writers.acknowledged].filter(([title, id]) => stored.get(title)?.join() !== id)
    const twice = rows.filter((row) => row.ids.length > 1).map((row) => row.title)
    // Cut off, then retried with the same key until acknowledged (a run's last key may stay unacknowledged).
    const keysRetriedAfterCutOff = new Set(
      writers.attempts
        .filter((a) => a.type === outcomeUnknown && writers.acknowledged.has(a.title))
        .map((a) => a.title),
    )
    console.log(
      `[end] ${writers.acknowledged.size} acknowledged notes, ${rows.length} stored; lost ${lost.length}, ` +
        `written twice ${twice.length}; ${keysRetriedAfterCutOff.size} keys retried after write-outcome-unknown`,
    )
    expect(lost).toEqual([])
    expect(twice).toEqual([])
    for (const title of keysRetriedAfterCutOff) expect(stored.get(title)?.length, title).toBe(1)
    expect(writers.acknowledged.size).toBeGreaterThan(clients * 4)
  }, 60_000)
})
