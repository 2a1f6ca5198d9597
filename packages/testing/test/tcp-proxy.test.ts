import { connect, createServer, type Server, type Socket } from 'node:net'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startTcpProxy, type TcpProxy } from '../src/index.ts'
import { sharedPostgres } from '../src/vitest/index.ts'

const db = await sharedPostgres.testDatabase()
const { ca } = await sharedPostgres.cluster()

// An echo server that remembers what each upstream socket received and how it ended.
let echo: Server
let echoPort = 0
const upstreams: { socket: Socket; received: Buffer[]; error?: string; ended: boolean }[] = []
beforeAll(async () => {
  echo = createServer((socket) => {
    const record = { socket, received: [] as Buffer[], ended: false } as (typeof upstreams)[number]
    upstreams.push(record)
    socket.on('data', (chunk: Buffer) => {
      record.received.push(chunk)
      socket.write(chunk)
    })
    socket.on('end', () => {
      record.ended = true
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      record.error = error.code
    })
  })
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
  echoPort = (echo.address() as { port: number }).port
})
afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())))

let proxy: TcpProxy
afterEach(() => proxy?.stop())

function dial(port: number): Promise<{ socket: Socket; data: Buffer[]; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const data: Buffer[] = []
    const socket = connect({ host: '127.0.0.1', port })
    const closed = new Promise<string>((settle) => {
      socket.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? 'error'))
      socket.on('end', () => settle('end'))
    })
    socket.on('data', (chunk: Buffer) => data.push(chunk))
    socket.once('connect', () => resolve({ socket, data, closed }))
    socket.once('error', reject)
  })
}

const received = (chunks: Buffer[]) => Buffer.concat(chunks).toString()

/**
 * A proxy in front of the test database and a postgres.js client (one connection, verify-full TLS through the
 * proxy: the proxy forwards the encrypted bytes as they are) tagged `applicationName`.
 */
async function postgresThroughProxy(applicationName = 'tcp-proxy-test') {
  proxy = await startTcpProxy({ target: { host: db.host, port: db.port } })
  const { host, port } = proxy
  return postgres({
    user: db.user,
    password: db.password,
    database: db.database,
    host,
    port,
    max: 1,
    ssl: ca ? { ca, rejectUnauthorized: true } : false,
    connection: { application_name: applicationName },
    onnotice: () => {},
  })
}

/** Resolves once the session tagged `applicationName` runs a statement matching `query` and waits for a lock. */
async function waitingOnLock(applicationName: string, query = '%') {
  await expect
    .poll(
      async () =>
        (
          await db.sql`select count(*)::int as n from pg_stat_activity
            where application_name = ${applicationName} and state = 'active' and wait_event_type = 'Lock'
              and query like ${query}`
        )[0]?.n,
      { timeout: 10_000, interval: 10 },
    )
    .toBe(1)
}

/** A proxy in front of the echo server and a client that has already had `first` echoed back. */
async function echoThroughProxy(first: string) {
  proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: echoPort } })
  const upstreamIndex = upstreams.length
  const client = await dial(proxy.port)
  client.socket.write(first)
  await expect.poll(() => received(client.data)).toBe(first)
  return { client, upstream: () => upstreams[upstreamIndex] }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('startTcpProxy', () => {
  test('forwards a postgres.js session and counts its connection', async () => {
    const sql = await postgresThroughProxy()
    const [row] = await sql`select current_database() as name`
    expect(row?.name).toBe(db.database)
    expect(proxy.connections()).toBe(1)
    await sql.end()
    await expect.poll(() => proxy.connections()).toBe(0)
  })

  test('resetAll sends a TCP RST to both sides instead of closing politely', async () => {
    const { client, upstream } = await echoThroughProxy('hello')
    proxy.resetAll()
    await expect(client.closed).resolves.toBe('ECONNRESET')
    await expect.poll(() => upstream()?.error).toBe('ECONNRESET')
    expect(upstream()?.ended).toBe(false)
    expect(proxy.connections()).toBe(0)
  })

  test('resetAll fails a query in flight with ECONNRESET', async () => {
    const sql = await postgresThroughProxy('reset-all')
    await sql`select 1`
    await db.sql`select pg_advisory_lock(1001)`
    const running = sql`select pg_advisory_xact_lock_shared(1001)`.catch((error: unknown) => error)
    await waitingOnLock('reset-all')
    proxy.resetAll()
    await db.sql`select pg_advisory_unlock(1001)`
    await expect(running).resolves.toMatchObject({ code: 'ECONNRESET' })
    await sql.end({ timeout: 0 })
  })

  test('resetOnNextData() resets before the next client message reaches the server', async () => {
    await db.sql`create table if not exists hits (n int)`
    const sql = await postgresThroughProxy()
    await sql`select 1`
    proxy.resetOnNextData()
    await expect(sql`insert into hits values (1)`).rejects.toMatchObject({ code: 'ECONNRESET' })
    const [row] = await db.sql`select count(*)::int as n from hits`
    expect(row?.n).toBe(0)
    // Armed once: the next connection works.
    await expect(sql`select 2 as two`).resolves.toEqual([{ two: 2 }])
    await sql.end({ timeout: 0 })
  })

  test('resetAfterRequest resets once the server is executing the request, never before it arrived', async () => {
    await db.sql`create table if not exists applied (n int)`
    const sql = await postgresThroughProxy('after-request')
    await sql`select 1`
    await db.sql`select pg_advisory_lock(1002)`
    const reset = proxy.resetAfterRequest(() => waitingOnLock('after-request', 'insert into applied%'))
    const write = sql`insert into applied select 1 from pg_advisory_xact_lock_shared(1002)`.catch(
      (error: unknown) => error,
    )
    await reset
    await expect(write).resolves.toMatchObject({ code: 'ECONNRESET' })
    // The server had the whole request: released, its backend finishes the insert and commits it.
    await db.sql`select pg_advisory_unlock(1002)`
    await expect
      .poll(async () => (await db.sql`select count(*)::int as n from applied`)[0]?.n, { timeout: 10_000 })
      .toBe(1)
    await sql.end({ timeout: 0 })
  })

  test('resetAfterResponseStarts cuts an answer after its first bytes reached the client', async () => {
    const sql = await postgresThroughProxy()
    await sql`select 1`
    const cut = proxy.resetAfterResponseStarts()
    const read = sql`select repeat('x', 1000) as pad from generate_series(1, 2000)`.catch(
      (error: unknown) => error,
    )
    const { requestBytes, responseBytes } = await cut
    await expect(read).resolves.toMatchObject({ code: 'ECONNRESET' })
    expect(requestBytes).toBeGreaterThan(0)
    expect(responseBytes).toBeGreaterThan(0)
    expect(responseBytes).toBeLessThan(2_000_000)
    await sql.end({ timeout: 0 })
  })

  test('refuses to arm a second reset while one is pending', async () => {
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: echoPort } })
    proxy.resetOnNextData()
    expect(() => proxy.resetOnNextData()).toThrow(/already armed/)
  })

  test('resetOnNextData(n) lets n more client bytes through, then resets', async () => {
    const { client, upstream } = await echoThroughProxy('ab')
    proxy.resetOnNextData(4)
    client.socket.write('cdefghij')
    await expect(client.closed).resolves.toBe('ECONNRESET')
    await expect.poll(() => received(upstream()?.received ?? [])).toBe('abcdef')
  })

  test('blackhole swallows bytes both ways without closing anything, until turned off', async () => {
    const { client, upstream } = await echoThroughProxy('a')
    proxy.blackhole(true)
    client.socket.write('lost')
    await expect.poll(() => proxy.swallowed()).toBe(4)
    expect(proxy.connections()).toBe(1)
    expect(client.socket.destroyed).toBe(false)
    proxy.blackhole(false)
    client.socket.write('found')
    await expect.poll(() => received(client.data)).toBe('afound')
    expect(received(upstream()?.received ?? [])).toBe('afound')
    client.socket.destroy()
  })

  test('silenceOpenConnections silences the connections open now; a new one works', async () => {
    const { client, upstream } = await echoThroughProxy('a')
    proxy.silenceOpenConnections()
    client.socket.write('lost')
    const second = await dial(proxy.port)
    second.socket.write('fresh')
    await expect.poll(() => received(second.data)).toBe('fresh')
    client.socket.write('also lost')
    await expect.poll(() => proxy.swallowed()).toBe(13)
    expect(received(client.data)).toBe('a')
    expect(received(upstream()?.received ?? [])).toBe('a')
    expect(client.socket.destroyed).toBe(false)
    client.socket.destroy()
    second.socket.destroy()
  })

  test('blackhole makes a postgres.js query hang until a client-side deadline', async () => {
    const sql = await postgresThroughProxy()
    await sql`select 1`
    proxy.blackhole(true)
    // The deadline is the subject: a query through a silent network never answers, however long it is given.
    const outcome = await Promise.race([
      sql`select 1`.then(() => 'answered'),
      sleep(500).then(() => 'deadline'),
    ])
    expect(outcome).toBe('deadline')
    expect(proxy.connections()).toBe(1)
    await sql.end({ timeout: 0 })
  })

  test('acceptDelayMs holds each new connection before it reaches the server', async () => {
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: echoPort }, acceptDelayMs: 300 })
    const started = Date.now()
    const client = await dial(proxy.port)
    client.socket.write('x')
    await expect.poll(() => received(client.data)).toBe('x')
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    client.socket.destroy()
    proxy.setAcceptDelay(0)
    const quick = Date.now()
    const second = await dial(proxy.port)
    second.socket.write('y')
    await expect.poll(() => received(second.data)).toBe('y')
    expect(Date.now() - quick).toBeLessThan(250)
    second.socket.destroy()
  })

  test('stop closes the open connections', async () => {
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: echoPort } })
    const client = await dial(proxy.port)
    await proxy.stop()
    await expect(client.closed).resolves.toMatch(/end|ECONNRESET/)
    expect(proxy.connections()).toBe(0)
  })
})
