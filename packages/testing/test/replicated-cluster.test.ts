import { connect as tcpConnect } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type ReplicatedCluster, startReplicatedCluster } from '../src/index.ts'
import { descendants } from '../src/postgres/process.ts'

// One cluster for the file: the scenarios run in order and each leaves it usable for the next.
let cluster: ReplicatedCluster

beforeAll(async () => {
  const started = performance.now()
  cluster = await startReplicatedCluster({ standbys: 2, synchronous: true, tls: true })
  console.info(
    `startReplicatedCluster (2 standbys, synchronous, TLS): ${Math.round(performance.now() - started)} ms`,
  )
  const sql = cluster.connect('endpoint', { max: 1 })
  await sql`create table notes (id serial primary key, body text not null)`
  await sql.end()
}, 90_000)
afterAll(() => cluster?.stop())

async function failure(query: PromiseLike<unknown>): Promise<{ code?: string; message?: string }> {
  try {
    await query
  } catch (error) {
    return error as { code?: string }
  }
  throw new Error('the statement succeeded where it should have failed')
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function connectRefused(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(undefined)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code))
  })
}

/** Resolves once `pg_sleep` runs on `node`: a restart then meets a statement in flight, not an idle session. */
async function sleeping(node: number) {
  const admin = cluster.connect(node, { max: 1 })
  await waitFor('pg_sleep to run on the server', async () => {
    const rows =
      await admin`select 1 from pg_stat_activity where state = 'active' and query like 'select pg_sleep%'`
    return rows.length > 0
  })
  await admin.end()
}

/**
 * A node-postgres session on `node`: unlike postgres.js, which reports a FATAL received mid-query as
 * CONNECTION_CLOSED, it hands the server's SQLSTATE to the query in flight.
 */
async function pgSession(node: number) {
  const { port } = cluster.node(node)
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: cluster.user,
    password: cluster.password,
    database: 'postgres',
    ssl: { ca: cluster.ca as string },
  })
  client.on('error', () => {})
  await client.connect()
  return client
}

const standbys = () => cluster.nodes().filter((node) => node.role === 'standby')

describe('startReplicatedCluster', () => {
  test('streams a row written on the writer to every standby, where it is read-only', async () => {
    const writer = cluster.connect('endpoint', { max: 1 })
    const [row] = await writer`insert into notes (body) values ('streamed') returning id`
    await cluster.waitForReplay()
    expect(standbys()).toHaveLength(2)
    for (const node of standbys()) {
      const sql = cluster.connect(node.index, { max: 1 })
      const [found] = await sql`select body, pg_is_in_recovery() as standby from notes where id = ${row?.id}`
      expect(found).toEqual({ body: 'streamed', standby: true })
      expect((await failure(sql`insert into notes (body) values ('no')`)).code).toBe('25006')
    }
  })

  test('acknowledges a commit only once a standby has it (synchronous)', async () => {
    const writer = cluster.connect(cluster.writer().index, { max: 1 })
    const frozen = standbys().flatMap((node) => [node.pid as number, ...descendants(node.pid as number)])
    for (const pid of frozen) process.kill(pid, 'SIGSTOP')
    let acknowledged = false
    try {
      const insert = writer`insert into notes (body) values ('synchronous')`.then(() => {
        acknowledged = true
      })
      const admin = cluster.connect(cluster.writer().index, { max: 1 })
      await waitFor('a backend waiting for a standby (SyncRep)', async () => {
        const rows = await admin`select 1 from pg_stat_activity where wait_event = 'SyncRep'`
        return rows.length > 0
      })
      expect(acknowledged).toBe(false)
      for (const pid of frozen) process.kill(pid, 'SIGCONT')
      await insert
      expect(acknowledged).toBe(true)
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT')
    }
  })

  test('endpoint retarget sends new connections to the new target and leaves open ones where they are', async () => {
    const endpoint = cluster.endpoint()
    const writer = cluster.writer()
    const [standby] = standbys()
    const before = cluster.connect('endpoint', { max: 1 })
    const [first] = await before`select inet_server_port() as port`
    expect(first?.port).toBe(writer.port)
    endpoint.retarget(standby?.index as number)
    try {
      const after = cluster.connect('endpoint', { max: 1 })
      const [second] = await after`select inet_server_port() as port, pg_is_in_recovery() as standby`
      expect(second).toEqual({ port: standby?.port, standby: true })
      const [still] =
        await before`insert into notes (body) values ('old session') returning inet_server_port() as port`
      expect(still?.port).toBe(writer.port)
    } finally {
      endpoint.retarget(writer.index)
    }
  })

  test('the reader endpoint spreads new connections over the live standbys', async () => {
    const ports = new Set<number>()
    for (let i = 0; i < 4; i++) {
      const sql = cluster.connect('reader', { max: 1 })
      const [row] = await sql`select inet_server_port() as port, pg_is_in_recovery() as standby`
      expect(row?.standby).toBe(true)
      ports.add(row?.port)
      await sql.end()
    }
    expect([...ports].sort()).toEqual(
      standbys()
        .map((node) => node.port)
        .sort(),
    )
  })

  test('restart fast: an open session gets 57P01, connects are refused while down, the server returns on its port', async () => {
    const writer = cluster.writer()
    const session = await pgSession(writer.index)
    const inFlight = failure(session.query('select pg_sleep(30)'))
    await sleeping(writer.index)
    const restarting = cluster.restart({ mode: 'fast', downMs: 1500 })
    expect((await inFlight).code).toBe('57P01')
    await waitFor('the writer to be down', () => cluster.writer().pid === undefined)
    expect(await connectRefused(writer.port)).toBe('ECONNREFUSED')
    const report = await restarting
    console.info(`restart fast (down 1500 ms): ${JSON.stringify(report)}`)
    expect(report.totalMs).toBeGreaterThanOrEqual(1500)
    expect(cluster.writer().port).toBe(writer.port)
    const [row] = await cluster.connect('endpoint', {
      max: 1,
    })`insert into notes (body) values ('after fast') returning id`
    expect(row?.id).toBeGreaterThan(0)
  })

  test('restart immediate: an open session is cut without a message; committed rows survive crash recovery', async () => {
    const writer = cluster.writer()
    const session = await pgSession(writer.index)
    await session.query(`insert into notes (body) values ('before crash restart')`)
    const inFlight = failure(session.query('select pg_sleep(30)'))
    await sleeping(writer.index)
    const report = await cluster.restart({ mode: 'immediate', downMs: 200 })
    console.info(`restart immediate (down 200 ms): ${JSON.stringify(report)}`)
    const cut = await inFlight
    // No SQLSTATE: the server said nothing, the connection just ended.
    expect(cut.code).toBeUndefined()
    expect(cut.message).toMatch(/terminated unexpectedly/)
    const sql = cluster.connect('endpoint', { max: 1 })
    const rows = await sql`select 1 from notes where body = 'before crash restart'`
    expect(rows).toHaveLength(1)
  })

  test('restart of a standby: its sessions get 57P01, it is refused while down, then it streams from the writer again', async () => {
    const [standby] = standbys()
    if (!standby) throw new Error('the cluster has no standby')
    const session = await pgSession(standby.index)
    const inFlight = failure(session.query('select pg_sleep(30)'))
    await sleeping(standby.index)
    const restarting = cluster.restart({ node: standby.index, mode: 'fast', downMs: 500 })
    expect((await inFlight).code).toBe('57P01')
    await waitFor('the standby to be down', () => cluster.node(standby.index).pid === undefined)
    expect(await connectRefused(standby.port)).toBe('ECONNREFUSED')
    expect(cluster.writer().pid).toBeDefined()
    const report = await restarting
    console.info(`restart of ${standby.name} (down 500 ms): ${JSON.stringify(report)}`)
    expect(report.node).toBe(standby.index)
    expect(cluster.node(standby.index)).toMatchObject({ role: 'standby', port: standby.port })
    await cluster.connect('endpoint', { max: 1 })`insert into notes (body) values ('after standby restart')`
    await cluster.waitForReplay()
    const replica = cluster.connect(standby.index, { max: 1 })
    const [row] =
      await replica`select pg_is_in_recovery() as standby, count(*)::int as n from notes where body = 'after standby restart'`
    expect(row).toEqual({ standby: true, n: 1 })
  })

  test('stall freezes the writer for the given time, then it answers again', async () => {
    const sql = cluster.connect('endpoint', { max: 1 })
    await sql`select 1`
    const started = performance.now()
    const stalled = cluster.stall(1000)
    await sql`select 1`
    const elapsed = performance.now() - started
    await stalled
    // The statement cannot be answered before SIGCONT, however busy the machine.
    expect(elapsed).toBeGreaterThanOrEqual(950)
  })

  test('switchover: the promoted standby takes writes through the endpoint, the old writer comes back as its standby', async () => {
    const old = cluster.writer()
    const sql = cluster.connect('endpoint', { max: 1 })
    await sql`insert into notes (body) values ('before switchover')`
    const report = await cluster.failover({ mode: 'switchover' })
    console.info(`failover switchover: ${JSON.stringify(report)}`)
    expect(report.from).toBe(old.index)
    expect(cluster.writer().index).toBe(report.to)
    expect(cluster.node(old.index).role).toBe('standby')
    const after = cluster.connect('endpoint', { max: 1 })
    const [row] =
      await after`insert into notes (body) values ('after switchover') returning inet_server_port() as port`
    expect(row?.port).toBe(cluster.writer().port)
    await cluster.waitForReplay()
    const onOld = cluster.connect(old.index, { max: 1 })
    const bodies =
      await onOld`select body from notes where body in ('before switchover', 'after switchover') order by id`
    expect(bodies.map((each) => each.body)).toEqual(['before switchover', 'after switchover'])
  })

  test('failover crash: the endpoint names a read-only node (25006), then the promoted standby, which has every acknowledged commit', async () => {
    const old = cluster.writer()
    const sql = cluster.connect('endpoint', { max: 1 })
    const [committed] =
      await sql`insert into notes (body) values ('acknowledged before the crash') returning id`
    const failing = cluster.failover({ mode: 'crash', staleMs: 1500 })
    const endpoint = cluster.endpoint()
    await waitFor('the endpoint to name a read-only node', () => endpoint.target() !== old.index)
    const stale = cluster.connect('endpoint', { max: 1 })
    const [where] = await stale`select pg_is_in_recovery() as standby`
    expect(where?.standby).toBe(true)
    expect((await failure(stale`insert into notes (body) values ('refused')`)).code).toBe('25006')
    const report = await failing
    console.info(`failover crash (stale 1500 ms): ${JSON.stringify(report)}`)
    expect(report.stale).not.toBe(report.to)
    expect(cluster.node(report.stale as number).role).toBe('standby')
    expect(cluster.node(old.index).role).toBe('down')
    const fresh = cluster.connect('endpoint', { max: 1 })
    const [row] =
      await fresh`insert into notes (body) values ('after crash') returning inet_server_port() as port`
    expect(row?.port).toBe(cluster.writer().port)
    const found = await fresh`select id from notes where id = ${committed?.id}`
    expect(found).toHaveLength(1)
    expect(await connectRefused(old.port)).toBe('ECONNREFUSED')
  })
})
