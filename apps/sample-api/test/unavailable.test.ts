import { randomUUID } from 'node:crypto'
import { type PostgresCluster, startPostgres, startTcpProxy, type TcpProxy } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { commitGate } from './support/commit-gate.ts'
import { type AppUnderTest, type Reply, sharedCa, startApp } from './support/harness.ts'

/** A 503 body carries fixed sentences only: no secret, no SQL, no parameter, no host or SQLSTATE. */
const expectNothingLeaked = (app: AppUnderTest, reply: Reply, ...parameters: string[]) => {
  const everything = [...app.logs, reply.body].join('\n')
  expect(everything).not.toContain(app.password)
  expect(everything).not.toContain(app.ciphertext.slice(0, 40))
  for (const parameter of parameters) expect(reply.body).not.toContain(parameter)
  expect(reply.body).not.toMatch(
    /insert|select|commit|idempotency_keys|notes_|127\.0\.0\.1|SQLSTATE|ECONN|RdsError/i,
  )
}

const post = (app: AppUnderTest, body: unknown, key: string) =>
  app.invoke('POST', '/notes', { body, headers: { 'idempotency-key': key } })

const notesTitled = async (app: AppUnderTest, title: string) =>
  (await app.database.sql<{ id: string }[]>`select id from notes where title = ${title}`).map((r) => r.id)

describe('a write cut off mid-flight (TCP reset through a proxy)', () => {
  let proxy: TcpProxy
  let app: AppUnderTest
  beforeAll(async () => {
    const database = await sharedPostgres.testDatabase()
    proxy = await startTcpProxy({ target: { host: database.host, port: database.port } })
    // verify-full end to end: the proxy forwards the encrypted bytes, and 127.0.0.1 is in the certificate.
    app = await startApp({
      database: { ...database, host: proxy.host, port: proxy.port },
      tlsCa: sharedCa(),
      timeoutMs: 5_000,
    })
  })
  afterAll(async () => {
    await app?.close()
    await proxy?.stop()
  })

  test('reset before the transaction began (its BEGIN never reached the server): begun again on a new session, one note, and a retry with the key replays it', async () => {
    const title = `cut early ${randomUUID()}`
    const key = randomUUID()
    expect((await app.invoke('GET', '/notes?limit=1')).status).toBe(200) // a warm connection
    proxy.resetOnNextData(0)
    // Nothing of the transaction ran, so rds starts it again: the client never sees the reset.
    const created = await post(app, { title }, key)
    expect(created.status).toBe(201)
    expect(created.headers['idempotent-replayed']).toBeUndefined()
    expect(await notesTitled(app, title)).toEqual([created.json.id])

    const retry = await post(app, { title }, key)
    expect(retry.status).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json.id).toBe(created.json.id)
    expect(await notesTitled(app, title)).toEqual([created.json.id])
  })

  test('reset while COMMIT was on its way: 503 write-outcome-unknown, the note committed, and the retry replays it', async () => {
    const title = `cut at commit ${randomUUID()}`
    const key = randomUUID()
    const gate = await commitGate(app.database, title)
    try {
      const pending = post(app, { title }, key)
      await gate.waitFor('advisory') // the COMMIT reached the server and waits at the gate
      proxy.resetAll()
      const cut = await pending
      expect(cut.status).toBe(503)
      expect(cut.json.type).toBe('urn:rdskit:problem:write-outcome-unknown')
      expectNothingLeaked(app, cut, title, key)
      // The server finishes the COMMIT it received; the client could not know.
      await gate.open()
      await vi.waitFor(
        async () => {
          if ((await notesTitled(app, title)).length === 0) throw new Error('not committed yet')
        },
        { timeout: 10_000, interval: 20 },
      )
    } finally {
      await gate.remove()
    }
    const retry = await post(app, { title }, key)
    expect(retry.status).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(await notesTitled(app, title)).toEqual([retry.json.id])
  })
})

describe('a stopped server', () => {
  let cluster: PostgresCluster
  let app: AppUnderTest
  beforeAll(async () => {
    cluster = await startPostgres({ tls: true })
    app = await startApp({ database: await cluster.createDatabase(), tlsCa: cluster.ca, timeoutMs: 3_000 })
  })
  afterAll(async () => {
    await app?.close()
    await cluster?.stop()
  })

  test('answers 503 service-unavailable with Retry-After within the invocation budget, for reads and keyed writes', async () => {
    expect((await app.invoke('GET', '/notes')).status).toBe(200)
    await cluster.stop()
    for (const request of [
      () => app.invoke('GET', '/notes'),
      () => post(app, { title: 'while down' }, randomUUID()),
    ]) {
      const started = performance.now()
      const reply = await request()
      expect(reply.status).toBe(503)
      expect(reply.headers['retry-after']).toBe('1')
      // Nothing reached a server: the outcome is known (not applied), so this is not write-outcome-unknown.
      expect(reply.json.type).toBe('urn:rdskit:problem:service-unavailable')
      expect(performance.now() - started).toBeLessThan(3_000)
      expectNothingLeaked(app, reply, 'while down')
    }
  })
})
