import { existsSync } from 'node:fs'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PostgresCluster, startPostgres } from '../src/index.ts'

let cluster: PostgresCluster

const appPassword = 'correct horse \'battery\' "staple"'

beforeAll(async () => {
  cluster = await startPostgres({
    settings: { idle_in_transaction_session_timeout: '7s', log_connections: true },
    roles: [
      { name: 'app', password: appPassword, createdb: true },
      { name: 'expired', password: 'old-password', validUntil: new Date(Date.now() - 60_000) },
    ],
  })
})
afterAll(() => cluster?.stop())

function client(user: string, password: string, extra: postgres.Options<Record<string, never>> = {}) {
  return postgres({
    host: cluster.host,
    port: cluster.port,
    database: 'postgres',
    user,
    password,
    max: 1,
    connect_timeout: 5,
    onnotice: () => {},
    ...extra,
  })
}

function twinInfo(other: PostgresCluster) {
  return { host: other.host, port: other.port, user: other.user, database: other.database }
}

async function loginAs(user: string, password: string): Promise<string> {
  const sql = client(user, password)
  try {
    const [row] = await sql`select current_user as name`
    return row?.name
  } finally {
    await sql.end({ timeout: 0 })
  }
}

describe('startPostgres', () => {
  test('starts PostgreSQL 17 by default on 127.0.0.1 with a random superuser password', async () => {
    expect(cluster.version).toBe(17)
    expect(cluster.host).toBe('127.0.0.1')
    expect(cluster.external).toBe(false)
    expect(cluster.pid).toBeGreaterThan(0)
    expect(cluster.password.length).toBeGreaterThanOrEqual(20)
    const [row] = await cluster.sql`show server_version`
    expect(row?.server_version).toMatch(/^17\./)
  })

  test('gives every cluster its own superuser password, though their data directories are copies of one template', async () => {
    const twin = await startPostgres({ throwaway: true })
    try {
      expect(twin.password).not.toBe(cluster.password)
      const intruder = postgres({ ...twinInfo(twin), password: cluster.password, max: 1, onnotice: () => {} })
      await expect(intruder`select 1`).rejects.toMatchObject({ code: '28P01' })
      await intruder.end({ timeout: 0 })
    } finally {
      await twin.stop()
    }
  })

  test.each([15, 16] as const)(
    'starts PostgreSQL %i when asked and reports that version',
    async (version) => {
      const older = await startPostgres({ version })
      try {
        expect(older.version).toBe(version)
        const [row] = await older.sql`show server_version`
        expect(row?.server_version).toMatch(new RegExp(`^${version}\\.`))
      } finally {
        await older.stop()
      }
    },
  )

  test('applies extra server settings, booleans as on/off', async () => {
    const [timeout] = await cluster.sql`show idle_in_transaction_session_timeout`
    const [logConnections] = await cluster.sql`show log_connections`
    expect(timeout?.idle_in_transaction_session_timeout).toBe('7s')
    expect(logConnections?.log_connections).toBe('on')
  })

  test('names a setting the server does not know in the error', async () => {
    await expect(startPostgres({ settings: { no_such_setting: 1 } })).rejects.toThrow(
      /unrecognized configuration parameter "no_such_setting"/,
    )
  })

  test('rejects a setting name that is not one, before starting anything', async () => {
    await expect(startPostgres({ settings: { 'x; rm -rf /': 1 } })).rejects.toThrow(
      /settings: .* is not a PostgreSQL setting name/,
    )
  })

  test('rejects a role without a password before starting anything', async () => {
    await expect(startPostgres({ roles: [{ name: 'nopw', password: '' }] })).rejects.toThrow(
      /roles\[0\]: password must be a non-empty string/,
    )
  })

  test('creates roles whose SCRAM passwords log in, even with quotes in them', async () => {
    await expect(loginAs('app', appPassword)).resolves.toBe('app')
    const [role] =
      await cluster.sql`select rolcreatedb, rolsuper, rolpassword from pg_authid where rolname = 'app'`
    expect(role?.rolcreatedb).toBe(true)
    expect(role?.rolsuper).toBe(false)
    expect(role?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/)
  })

  test('refuses a wrong password with 28P01', async () => {
    await expect(loginAs('app', 'wrong')).rejects.toMatchObject({ code: '28P01' })
  })

  test('refuses a role whose password is past VALID UNTIL with 28P01', async () => {
    await expect(loginAs('expired', 'old-password')).rejects.toMatchObject({ code: '28P01' })
  })

  test('quotes role names safely', async () => {
    const name = `o'brien "x"; drop role app; --`
    await cluster.createRole({ name, password: 'pw' })
    await expect(loginAs(name, 'pw')).resolves.toBe(name)
    await expect(loginAs('app', appPassword)).resolves.toBe('app')
  })

  test('keeps existing sessions across setPassword while new logins need the new password', async () => {
    await cluster.createRole({ name: 'rotated', password: 'first' })
    const existing = client('rotated', 'first')
    await existing`select 1`
    await cluster.setPassword('rotated', 'second')
    await expect(existing`select current_user as name`).resolves.toEqual([{ name: 'rotated' }])
    await expect(loginAs('rotated', 'first')).rejects.toMatchObject({ code: '28P01' })
    await expect(loginAs('rotated', 'second')).resolves.toBe('rotated')
    await cluster.setPassword('rotated', 'second', new Date(Date.now() - 1000))
    await expect(loginAs('rotated', 'second')).rejects.toMatchObject({ code: '28P01' })
    await existing.end()
  })

  test('never puts a password in an error message', async () => {
    const error = (await cluster
      .setPassword('no_such_role', 'hunter2-secret')
      .catch((e: unknown) => e)) as Error
    expect(error).toBeInstanceOf(Error)
    expect(error.message).toMatch(/setPassword\("no_such_role"\) failed: .*SQLSTATE 42704/)
    expect(JSON.stringify({ ...error, message: error.message, cause: String(error.cause) })).not.toMatch(
      /hunter2|SCRAM/,
    )
  })

  test('lists client sessions with a filter and never its own admin session', async () => {
    const sql = client('app', appPassword, { connection: { application_name: 'lister' } })
    await sql`select 1`
    const sessions = await cluster.sessions({ applicationName: 'lister' })
    expect(sessions).toHaveLength(1)
    expect(sessions[0]).toMatchObject({ user: 'app', database: 'postgres', backendType: 'client backend' })
    const all = await cluster.sessions()
    expect(all.map((s) => s.applicationName)).not.toContain('rdskit-testing-admin')
    await sql.end()
  })

  test('terminates a session mid-query and counts what it terminated', async () => {
    const sql = client('app', appPassword, { connection: { application_name: 'victim' } })
    await sql`select 1`
    const running = sql`select pg_sleep(20)`.catch((e: unknown) => e)
    await expect
      .poll(async () => (await cluster.sessions({ applicationName: 'victim' }))[0]?.state)
      .toBe('active')
    await expect(cluster.terminate({ applicationName: 'victim' })).resolves.toBe(1)
    // The server sends FATAL 57P01 and closes; postgres.js surfaces the close.
    await expect(running).resolves.toMatchObject({
      code: expect.stringMatching(/^(57P01|CONNECTION_CLOSED)$/),
    })
    // postgres.js 3.4.9: end() without a timeout never settles after a mid-query disconnect (porsager/postgres#1097).
    await sql.end({ timeout: 0 })
  })

  test('terminates one session by PID and refuses to terminate its own admin session', async () => {
    const sql = client('app', appPassword, { connection: { application_name: 'by-pid' } })
    const [row] = await sql`select pg_backend_pid() as pid`
    await expect(cluster.terminate(row?.pid)).resolves.toBe(1)
    const [own] = await cluster.sql`select pg_backend_pid() as pid`
    await expect(cluster.terminate(own?.pid)).rejects.toThrow(/admin handle's own session/)
    await expect(cluster.terminate({})).resolves.toBeGreaterThanOrEqual(0)
    await expect(cluster.sql`select 1 as one`).resolves.toEqual([{ one: 1 }])
    await sql.end({ timeout: 0 })
  })

  test('creates a database with its own handle and drops it even while someone is connected', async () => {
    const db = await cluster.createDatabase()
    await db.sql`create table notes (id int)`
    const intruder = client('postgres', cluster.password, { database: db.database })
    await intruder`select 1`
    await db.drop()
    const rows = await cluster.sql`select 1 from pg_database where datname = ${db.database}`
    expect(rows).toHaveLength(0)
    await intruder.end({ timeout: 0 })
    await expect(db.drop()).resolves.toBeUndefined()
  })

  test('pause makes the server a silent dead peer; resume lets the waiting query finish', async () => {
    const sql = client('app', appPassword)
    await sql`select 1`
    await cluster.pause()
    const pending = sql`select 42 as answer`
    const outcome = await Promise.race([
      pending,
      new Promise((resolve) => setTimeout(() => resolve('timed out'), 700)),
    ])
    expect(outcome).toBe('timed out')
    const fresh = client('app', appPassword, { connect_timeout: 1 })
    await expect(fresh`select 1`).rejects.toMatchObject({ code: 'CONNECT_TIMEOUT' })
    await cluster.resume()
    await expect(pending).resolves.toEqual([{ answer: 42 }])
    await Promise.all([sql.end(), fresh.end({ timeout: 0 })])
  })
})

describe('stop', () => {
  test('stops the server, removes its directory, and can be called twice', async () => {
    const short = await startPostgres({ throwaway: true })
    const { dir, pid } = short
    expect(dir && existsSync(dir)).toBe(true)
    await short.stop()
    await short.stop()
    expect(existsSync(dir as string)).toBe(false)
    expect(() => process.kill(pid as number, 0)).toThrow()
  })

  test('stops a paused server too', async () => {
    const short = await startPostgres({ throwaway: true })
    await short.pause()
    await short.stop()
    expect(existsSync(short.dir as string)).toBe(false)
  })
})

describe('maxConnections', () => {
  test('refuses connections past the limit with 53300, keeping one slot for the admin', async () => {
    const small = await startPostgres({ maxConnections: 4, roles: [{ name: 'app', password: 'pw' }] })
    const handles: postgres.Sql[] = []
    try {
      let opened = 0
      let failure: unknown
      for (let i = 0; i < 6 && !failure; i++) {
        const sql = postgres({ ...small, user: 'app', password: 'pw', max: 1, onnotice: () => {} })
        handles.push(sql)
        try {
          await sql`select 1`
          opened++
        } catch (error) {
          failure = error
        }
      }
      // 4 slots: one reserved for superusers, one held by the admin handle, two for the app.
      expect(opened).toBe(2)
      expect(failure).toMatchObject({ code: '53300' })
      await expect(small.terminate({ user: 'app' })).resolves.toBe(2)
    } finally {
      await Promise.all(handles.map((sql) => sql.end({ timeout: 0 })))
      await small.stop()
    }
  })
})
