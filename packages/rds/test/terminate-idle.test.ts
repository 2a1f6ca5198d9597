import { sharedPostgres } from '@rdskit/testing/vitest'
import { eq, sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { createItems, items } from './fixtures/items.ts'
import { backendGone, configOf, container, resetAll, sleep } from './helpers.ts'

// ANCHORS failure mode #1 without a freeze: the server (or RDS Proxy) closes the app's idle session, and the
// next invocation starts 0–100 ms later, so the server's FATAL 57P01 and FIN may or may not have been read
// when its first statement goes out.

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
await createItems(database.sql, 2)
await database.sql`create table ledger (id serial primary key, note text not null)`
afterAll(resetAll)

let apps = 0
const options = (label: string) => {
  const applicationName = `terminate-idle-${label}-${++apps}`
  return {
    applicationName,
    options: {
      config: configOf(database, applicationName),
      logger: { warn() {} },
    },
  }
}

async function terminate(applicationName: string) {
  const [session] = await cluster.sessions({ applicationName })
  expect(session).toBeDefined()
  expect(await cluster.terminate(session?.pid as number)).toBe(1)
  await backendGone(cluster, session?.pid as number)
}

type Style = 'query builder' | 'prepared statement' | 'db.execute'
const styles: Style[] = ['query builder', 'prepared statement', 'db.execute']
const delays = [0, 1, 10, 100]

function reader(style: Style) {
  const { applicationName, options: o } = options(style.replace(/\W/g, '-'))
  let prepared: { execute(values: { id: number }): Promise<{ name: string }[]> } | undefined
  const c = container(o, async (_event, ctx) => {
    if (style === 'query builder') {
      const rows = await ctx.db.select({ name: items.name }).from(items).where(eq(items.id, 2))
      return rows[0]?.name
    }
    if (style === 'prepared statement') {
      prepared ??= ctx.db
        .select({ name: items.name })
        .from(items)
        .where(eq(items.id, sql.placeholder('id')))
        .prepare('item_by_id')
      return (await prepared.execute({ id: 2 }))[0]?.name
    }
    return (await ctx.db.execute(sql`select name from items where id = ${2}`))[0]?.name as string
  })
  return { applicationName, invoke: c.invoke }
}

/** A container whose every invocation inserts one row into `ledger` under its own note. */
function writer(label: string) {
  const { applicationName, options: o } = options(label)
  const c = container(o, async (_event, ctx) => {
    await ctx.db.execute(sql`insert into ledger (note) values (${applicationName})`)
    return 'ok'
  })
  const rows = async () =>
    Number((await database.sql`select count(*)::int as n from ledger where note = ${applicationName}`)[0]?.n)
  return { applicationName, invoke: c.invoke, rows }
}

describe('the idle session terminated between two invocations (no freeze)', () => {
  for (const style of styles) {
    for (const delay of delays) {
      it(`re-runs a read (${style}) transparently when the next invocation starts ${delay} ms later`, async () => {
        for (let round = 0; round < 3; round++) {
          const { applicationName, invoke } = reader(style)
          expect(await invoke()).toBe('item 2')
          await terminate(applicationName)
          if (delay > 0) await sleep(delay)
          expect(await invoke()).toBe('item 2')
          expect(await invoke()).toBe('item 2')
        }
      })
    }
  }

  for (const delay of delays) {
    it(`runs a write exactly once when the next invocation starts ${delay} ms after the server closed the session`, async () => {
      for (let round = 0; round < 3; round++) {
        const c = writer('write')
        expect(await c.invoke()).toBe('ok')
        await terminate(c.applicationName)
        if (delay > 0) await sleep(delay)
        expect(await c.invoke()).toBe('ok')
        expect(await c.rows()).toBe(2)
      }
    })
  }

  it('never applies a write twice when the terminate races the next statement', async () => {
    const outcomes = new Set<string>()
    for (let round = 0; round < 10; round++) {
      const c = writer('race')
      expect(await c.invoke()).toBe('ok')
      const [session] = await cluster.sessions({ applicationName: c.applicationName })
      // Not awaited: the backend may read the statement before it handles the signal, or not.
      const terminated = cluster.terminate(session?.pid as number)
      const outcome = await c.invoke().catch((error: unknown) => error)
      await terminated
      const rows = await c.rows()
      if (outcome === 'ok') expect(rows).toBe(2)
      else {
        // It may have reached a backend that then died: surfaced, never re-run.
        expect(outcome).toMatchObject({ name: 'RdsError', code: 'CONNECTION_LOST', retryable: false })
        expect(rows).toBe(1)
      }
      outcomes.add(outcome === 'ok' ? 'ok' : 'lost')
      expect(await c.invoke()).toBe('ok')
    }
    expect(outcomes.has('ok')).toBe(true)
  })
})
