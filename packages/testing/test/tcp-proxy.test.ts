import { connect, createServer, type Server, type Socket } from 'node:net'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startTcpProxy, type TcpProxy } from '../src/index.ts'
import { sharedPostgres } from '../src/vitest/index.ts'

const db = await sharedPostgres.testDatabase()

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

/** A proxy in front of the test database and a postgres.js client (one connection) through it. */
async function postgresThroughProxy() {
  proxy = await startTcpProxy({ target: { host: db.host, port: db.port } })
  const { host, port } = proxy
  return postgres({
    user: db.user,
    password: db.password,
    database: db.database,
    host,
    port,
    max: 1,
    ssl: false,
  })
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
    const sql = await postgresThroughProxy()
    await sql`select 1`
    const running = sql`select pg_sleep(5)`.catch((error: unknown) => error)
    await sleep(100)
    proxy.resetAll()
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

  test('resetOnNextData(n) lets n more client bytes through, then resets', async () => {
    const { client, upstream } = await echoThroughProxy('ab')
    proxy.resetOnNextData(4)
    client.socket.write('cdefghij')
    await expect(client.closed).resolves.toBe('ECONNRESET')
    await expect.poll(() => received(upstream()?.received ?? [])).toBe('abcdef')
  })

  test('blackhole swallows bytes both ways without closing anything, until turned off', async () => {
    proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: echoPort } })
    const client = await dial(proxy.port)
    proxy.blackhole(true)
    client.socket.write('lost')
    await sleep(300)
    expect(received(client.data)).toBe('')
    expect(proxy.connections()).toBe(1)
    expect(client.socket.destroyed).toBe(false)
    proxy.blackhole(false)
    client.socket.write('found')
    await expect.poll(() => received(client.data)).toBe('found')
    client.socket.destroy()
  })

  test('blackhole makes a postgres.js query hang until a client-side deadline', async () => {
    const sql = await postgresThroughProxy()
    await sql`select 1`
    proxy.blackhole(true)
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
