import { close as closeRdsClients } from '@rdskit/rds'
import { type PostgresCluster, startPostgres } from '@rdskit/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type AppUnderTest, createNote, roleOf, startApp } from './support/harness.ts'

/** Every byte the client or the log saw must be free of the password and its ciphertext. */
const expectNoSecrets = (app: AppUnderTest, ...bodies: string[]) => {
  const everything = [...app.logs, ...bodies].join('\n')
  expect(everything).not.toContain(app.password)
  expect(everything).not.toContain(app.ciphertext)
  expect(everything).not.toContain(app.ciphertext.slice(0, 40))
}

describe('on the shared cluster', () => {
  let app: AppUnderTest
  beforeAll(async () => {
    app = await startApp()
  })
  afterAll(() => app?.close())

  test('an unexpected database error answers 500 with a request id and no internals, and logs the cause', async () => {
    const note = await createNote(app, { title: 'x' })
    await app.database.sql`alter table notes rename column title to title_renamed`
    try {
      const reply = await app.invoke('GET', `/notes/${note.id}`)
      expect(reply.status).toBe(500)
      expect(reply.headers['content-type']).toBe('application/problem+json')
      expect(reply.json).toEqual({
        type: 'urn:rdskit:problem:internal-error',
        title: 'Internal server error',
        status: 500,
        detail: 'An unexpected error occurred. Quote the requestId when reporting it.',
        requestId: expect.any(String),
      })
      expect(reply.body).not.toMatch(/title_renamed|select|column|42703|postgres|drizzle|at /i)
      const line = app.logRecords().find((l) => l.requestId === reply.json.requestId && l.level === 'ERROR')
      expect(line).toMatchObject({ message: 'request failed', status: 500, path: `/notes/${note.id}` })
      expect(JSON.stringify(line)).toContain('42703')
      expectNoSecrets(app, reply.body)
    } finally {
      await app.database.sql`alter table notes rename column title_renamed to title`
    }
  })

  test('a write that fails half-way leaves nothing behind (the PATCH transaction rolls back)', async () => {
    const note = await createNote(app, { title: 'atomic' })
    // A trigger that fails the UPDATE after the row lock and version check succeeded.
    await app.database.sql.unsafe(`
      create function fail_update() returns trigger language plpgsql as $$ begin raise exception 'boom'; end $$;
      create trigger fail_update before update on notes for each row when (new.title = 'explode') execute function fail_update();`)
    try {
      const reply = await app.invoke('PATCH', `/notes/${note.id}`, {
        body: { title: 'explode' },
        headers: { 'if-match': '"1"' },
      })
      expect(reply.status).toBe(500)
      const [row] = await app.database.sql`select title, version from notes where id = ${note.id}`
      expect(row).toEqual({ title: 'atomic', version: 1 })
      const [locks] = await app.database
        .sql`select count(*)::int as n from pg_stat_activity where state = 'idle in transaction'`
      expect(locks?.n).toBe(0)
    } finally {
      await app.database.sql.unsafe('drop trigger fail_update on notes; drop function fail_update();')
    }
  })

  test('/health answers 503 with Retry-After while migrations are missing', async () => {
    await app.database.sql`alter table drizzle.__drizzle_migrations rename to __drizzle_migrations_away`
    try {
      const reply = await app.invoke('GET', '/health')
      expect(reply.status).toBe(503)
      expect(reply.headers['retry-after']).toBe('30')
      expect(reply.json.type).toBe('urn:rdskit:problem:migrations-pending')
    } finally {
      await app.database.sql`alter table drizzle.__drizzle_migrations_away rename to __drizzle_migrations`
    }
  })

  test('a rejected password (rotated elsewhere) never reaches a response or a log line', async () => {
    const role = await roleOf(app)
    await app.database.sql.unsafe(`alter role ${role} password 'rotated-elsewhere-123'`)
    // Existing sessions outlive a password change; close the container's client so the next invocation
    // must log in again (as a fresh container would).
    await closeRdsClients()
    const reply = await app.invoke('GET', '/notes')
    expect(reply.status).toBe(500)
    expect(reply.json.requestId).toEqual(expect.any(String))
    expectNoSecrets(app, reply.body)
    expect(app.logs.join('\n')).not.toContain('rotated-elsewhere-123')
    const lines = app.logRecords().filter((l) => l.requestId === reply.json.requestId)
    expect(lines.find((l) => l.level === 'ERROR' && l.error !== undefined)?.error).toContain('AUTH_FAILED')
    // The rds adapter logged the credential refresh it tried first, then the give-up, on the same request.
    expect(lines.find((l) => l.message === 'rds recovery: refresh (rotation)')).toMatchObject({
      level: 'WARN',
      rds: { reason: 'rotation', action: 'refresh', code: '28P01' },
    })
    expect(lines.find((l) => l.message === 'rds recovery: give-up (rotation)')).toMatchObject({
      level: 'ERROR',
      rds: { reason: 'rotation', action: 'give-up', code: 'AUTH_FAILED' },
    })
  })
})

describe('on a cluster with 8 connection slots, held full', () => {
  let cluster: PostgresCluster
  let app: AppUnderTest
  const holders: postgres.Sql[] = []

  beforeAll(async () => {
    cluster = await startPostgres({ maxConnections: 8, tls: true })
    app = await startApp({ database: await cluster.createDatabase(), tlsCa: cluster.ca, timeoutMs: 3_000 })
  })
  afterAll(async () => {
    await Promise.all(holders.map((h) => h.end({ timeout: 1 })))
    await app?.close()
    await cluster?.stop()
  })

  test('TOO_MANY_CONNECTIONS answers 503 with Retry-After, then recovers once slots free up', async () => {
    const role = await roleOf(app)
    // Take every slot a non-superuser can get, with the app role itself.
    for (let i = 0; i < 20; i++) {
      const holder = postgres({
        host: cluster.host,
        port: cluster.port,
        database: app.database.database,
        username: role,
        password: app.password,
        ssl: { ca: cluster.ca as string },
        max: 1,
        onnotice: () => {},
      })
      try {
        await holder`select 1`
        holders.push(holder)
      } catch (error) {
        await holder.end({ timeout: 1 })
        expect((error as { code?: string }).code).toBe('53300')
        break
      }
    }
    expect(holders.length).toBeGreaterThan(0)

    const started = Date.now()
    const reply = await app.invoke('GET', '/notes')
    expect(reply.status).toBe(503)
    expect(reply.headers['retry-after']).toBe('1')
    expect(reply.json).toMatchObject({ status: 503, type: 'urn:rdskit:problem:service-unavailable' })
    expect(Date.now() - started).toBeLessThan(3_000)
    expectNoSecrets(app, reply.body)

    await Promise.all(holders.splice(0).map((h) => h.end({ timeout: 1 })))
    // The slots are free once the server has ended the holders' sessions.
    await expect
      .poll(async () => (await cluster.sessions({ user: role })).length, { timeout: 10_000 })
      .toBe(0)
    const recovered = await app.invoke('GET', '/notes')
    expect(recovered.status).toBe(200)
  })
})
