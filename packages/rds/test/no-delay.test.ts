import net from 'node:net'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, expect, it, vi } from 'vitest'
import { configOf, container, resetAll } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
afterAll(resetAll)

// With Nagle's algorithm on, a TLS connection's StartupMessage waits ~40 ms for the server's delayed ACK.
it('opens every connection with TCP_NODELAY', async () => {
  const connect = vi.spyOn(net, 'connect')
  try {
    const c = container(
      { config: configOf(database), logger: { warn() {} } },
      async (_event, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one,
    )
    expect(await c.invoke()).toBe(1)
    const ours = connect.mock.calls.filter(
      ([options]) =>
        typeof options === 'object' &&
        (options as net.NetConnectOpts & { port?: number }).port === database.port,
    )
    expect(ours.length).toBeGreaterThan(0)
    for (const [options] of ours) expect(options).toMatchObject({ noDelay: true })
  } finally {
    connect.mockRestore()
  }
})
