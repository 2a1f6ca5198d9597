// db.transaction() while the writer restarts or the endpoint names a standby. A transaction whose callback has
// not started yet (its session could not be opened, or it waited for the connection another invocation held)
// has sent nothing that could be applied: it waits for the writer like a single statement does, within the
// invocation's budget. Once its callback started, it is never re-run: its callback may have done more than SQL.
import { randomBytes } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import { sql } from 'drizzle-orm'
import { describe, expect, test } from 'vitest'
import { findRdsError } from '../src/errors.ts'
import { channelNames, type RecoverEvent } from '../src/events/index.ts'
import { writes } from './fixtures/writes.ts'
import { container } from './helpers.ts'
import { countRows, rdsOptionsOn } from './support/writes-cluster.ts'
import { writesClusterPerFile } from './support/writes-cluster-suite.ts'

const app = { name: 'rds_tx', password: `pw-${randomBytes(9).toString('hex')}` }
const cluster = writesClusterPerFile(app)

/** rds options for `target`: the writer node's own port (a real ECONNREFUSED while it is down) or the endpoint. */
const optionsFor = (target: { host: string; port: number }, extra: Record<string, unknown> = {}) =>
  rdsOptionsOn(cluster(), app, target, extra)

interface Write {
  token: string
  /** Runs in the handler after rds's before hook found its session alive, before db.transaction(). */
  beforeBegin?: () => Promise<void>
  sleepMs?: number
}

/** A container that writes `token` inside a transaction; counts how often the callback ran. */
function transactionWriter(target: { host: string; port: number }, extra: Record<string, unknown> = {}) {
  let callbacks = 0
  const client = container(optionsFor(target, extra), async (event, context) => {
    const { token, beforeBegin, sleepMs = 0 } = event as Write
    await beforeBegin?.()
    await context.db.transaction(async (tx) => {
      callbacks++
      await tx.insert(writes).values({ token, container: 1 })
      if (sleepMs > 0) await tx.execute(sql`select pg_sleep(${sleepMs / 1000})`)
    })
    return 'ok'
  })
  return { ...client, callbacks: () => callbacks }
}

/** Resolves on the first recovery step `match` accepts. */
function recoverStep(match: (step: RecoverEvent) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const listener = (message: unknown) => {
      if (!match(message as RecoverEvent)) return
      diagnostics.unsubscribe(channelNames.recover, listener)
      resolve()
    }
    diagnostics.subscribe(channelNames.recover, listener)
  })
}

const until = async (condition: () => boolean | Promise<boolean>) => {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10))
}

describe('a transaction that could not begin', () => {
  test('begun while the writer is down (connects refused), it commits once the writer is back, in the same invocation, once', async () => {
    const writer = transactionWriter(cluster().writer())
    await writer.invoke({ token: 'warm-down' }, 5_000)
    let restarting: Promise<unknown> = Promise.resolve()
    // The server goes down once the invocation is in its handler: the transaction's own connect is refused.
    const beforeBegin = async () => {
      restarting = cluster().restart({ mode: 'fast', downMs: 800 })
      await until(() => cluster().writer().pid === undefined)
    }
    await expect(writer.invoke({ token: 'begun-while-down', beforeBegin }, 6_000)).resolves.toBe('ok')
    await restarting
    expect(await countRows(cluster(), 'begun-while-down')).toBe(1)
    expect(writer.callbacks()).toBe(2)
  }, 30_000)

  test('begun while the endpoint names a read-only standby, it commits on the writer once the endpoint names it again', async () => {
    const endpoint = cluster().endpoint()
    const writerIndex = cluster().writer().index
    const standby = cluster()
      .nodes()
      .find((node) => node.role === 'standby')?.index as number
    const writer = transactionWriter(endpoint)
    await writer.invoke({ token: 'warm-stale' }, 5_000)
    // Once the invocation is in its handler, its session is cut and the endpoint names the standby.
    const beforeBegin = async () => {
      endpoint.retarget(standby)
      endpoint.resetAll()
    }
    const metStandby = recoverStep((step) => step.code === 'READ_ONLY_SESSION')
    const committed = writer.invoke({ token: 'begun-on-stale-endpoint', beforeBegin }, 6_000)
    // Only once the invocation has met the read-only node does the endpoint name the writer again.
    await Promise.race([metStandby, committed.catch(() => {})])
    endpoint.retarget(writerIndex)
    await expect(committed).resolves.toBe('ok')
    expect(await countRows(cluster(), 'begun-on-stale-endpoint')).toBe(1)
  }, 30_000)

  test('queued behind another invocation on the one connection when the server restarts, it commits after the restart; the one cut off mid-callback is not re-run', async () => {
    const writer = transactionWriter(cluster().writer(), { max: 1 })
    await writer.invoke({ token: 'warm-queued' }, 5_000)
    // The first holds the one connection inside its callback; the others wait for it.
    const cut = writer
      .invoke({ token: 'cut-mid-callback', sleepMs: 5_000 }, 8_000)
      .catch((caught: unknown) => caught)
    await until(() => writer.callbacks() === 2)
    const queued = Promise.allSettled(
      Array.from({ length: 3 }, (_, index) => writer.invoke({ token: `queued-${index}` }, 8_000)),
    )
    await cluster().restart({ mode: 'fast', downMs: 500 })
    const cutOff = await cut
    expect(findRdsError(cutOff)?.code).toBe('CONNECTION_LOST')
    expect(findRdsError(cutOff)?.retryable).toBe(false)
    expect(await queued).toEqual(Array(3).fill({ status: 'fulfilled', value: 'ok' }))
    for (const index of [0, 1, 2]) expect(await countRows(cluster(), `queued-${index}`)).toBe(1)
    expect(await countRows(cluster(), 'cut-mid-callback')).toBe(0)
    // warm, cut (once: never re-run), three queued.
    expect(writer.callbacks()).toBe(5)
  }, 30_000)
})
