import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { commitGate } from './support/commit-gate.ts'
import { type AppUnderTest, startApp } from './support/harness.ts'

let app: AppUnderTest
beforeAll(async () => {
  app = await startApp()
})
afterAll(() => app?.close())

const post = (body: unknown, key?: string, invoke = app.invoke) =>
  invoke('POST', '/notes', { body, headers: key === undefined ? {} : { 'idempotency-key': key } })

const notesTitled = async (title: string) => {
  const rows = await app.database.sql<{ id: string }[]>`select id from notes where title = ${title}`
  return rows.map((r) => r.id)
}

const keyRow = async (key: string) => {
  const [row] = await app.database.sql<{ request_hash: string; status: number; age_hours: number }[]>`
    select request_hash, status, (extract(epoch from now() - created_at) / 3600)::float8 as age_hours
    from idempotency_keys where key = ${key}`
  return row
}

describe('POST /notes with an Idempotency-Key', () => {
  test('a retry replays the original 201: same id, same body, Location and ETag, marked Idempotent-Replayed', async () => {
    const key = randomUUID()
    const first = await post({ title: 'replayed', tags: ['a', 'b'] }, key)
    expect(first.status).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()

    // The same request in another spelling: keys reordered, whitespace, a default written out.
    const retry = await post(`{ "tags": ["a","b"],  "body": "", "title": "replayed" }`, key)
    expect(retry.status).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.body).toBe(first.body)
    expect(retry.json.id).toBe(first.json.id)
    expect(retry.headers.location).toBe(`/notes/${first.json.id}`)
    expect(retry.headers.etag).toBe(first.headers.etag)
    expect(retry.headers['content-type']).toBe('application/json')
    expect(await notesTitled('replayed')).toEqual([first.json.id])
  })

  test('the same key with a different body answers 422 naming the header, and writes nothing', async () => {
    const key = randomUUID()
    const first = await post({ title: 'original' }, key)
    expect(first.status).toBe(201)
    const other = await post({ title: 'something else' }, key)
    expect(other.status).toBe(422)
    expect(other.headers['content-type']).toBe('application/problem+json')
    expect(other.json).toMatchObject({
      type: 'urn:rdskit:problem:idempotency-key-reused',
      status: 422,
      errors: [{ field: 'header.idempotency-key', detail: expect.stringContaining('different request') }],
    })
    expect(await notesTitled('something else')).toEqual([])
    // The stored answer is untouched: the original request still replays.
    const again = await post({ title: 'original' }, key)
    expect(again.json.id).toBe(first.json.id)
  })

  test('requests without the header are not deduplicated', async () => {
    expect((await post({ title: 'twice, no key' })).status).toBe(201)
    expect((await post({ title: 'twice, no key' })).status).toBe(201)
    expect(await notesTitled('twice, no key')).toHaveLength(2)
  })

  test('a quoted key (structured-field string, as the IETF draft writes it) is the same key unquoted', async () => {
    const key = `k-${randomUUID()}`
    const first = await post({ title: 'quoted' }, `"${key}"`)
    const retry = await post({ title: 'quoted' }, key)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json.id).toBe(first.json.id)
  })

  test.each([
    ['empty', '', 'is empty'],
    ['too short', 'abc1234', 'is 7 characters long'],
    ['too long', 'k'.repeat(256), 'is 256 characters long'],
    ['a space', 'key with spaces', 'outside the allowed set'],
    ['a repeated header, comma-joined', 'aaaaaaaa,bbbbbbbb', 'outside the allowed set'],
    ['non-ASCII', 'clé-unique-123', 'outside the allowed set'],
  ])('a key that is %s answers 400 naming the header and writes nothing', async (_, key, detail) => {
    const title = `bad key ${randomUUID()}`
    const reply = await post({ title }, key)
    expect(reply.status).toBe(400)
    expect(reply.headers['content-type']).toBe('application/problem+json')
    expect(reply.json.detail).toMatch(/^Idempotency-Key /)
    expect(reply.json.errors).toEqual([
      { field: 'header.idempotency-key', detail: expect.stringContaining(detail) },
    ])
    expect(await notesTitled(title)).toEqual([])
  })

  test('a failed request leaves its key free: a taken slug answers 409, and the same key succeeds once the slug is free', async () => {
    const slug = `taken-${Date.now()}`
    const holder = await post({ title: 'holder', slug })
    const key = randomUUID()
    const refused = await post({ title: 'wants the slug', slug }, key)
    expect(refused.status).toBe(409)
    expect(await keyRow(key)).toBeUndefined()

    expect((await app.invoke('DELETE', `/notes/${holder.json.id}`)).status).toBe(204)
    const retry = await post({ title: 'wants the slug', slug }, key)
    expect(retry.status).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBeUndefined()
  })

  test('a key older than 24 hours is forgotten (a new body creates a new note) and expired keys are purged', async () => {
    const key = randomUUID()
    const stale = randomUUID()
    const fresh = randomUUID()
    const first = await post({ title: 'before expiry' }, key)
    await post({ title: 'stale key' }, stale)
    await post({ title: 'fresh key' }, fresh)
    await app.database.sql`
      update idempotency_keys set created_at = now() - interval '24 hours 1 second' where key in (${key}, ${stale})`
    await app.database.sql`
      update idempotency_keys set created_at = now() - interval '23 hours 59 minutes' where key = ${fresh}`

    const reused = await post({ title: 'after expiry' }, key)
    expect(reused.status).toBe(201)
    expect(reused.headers['idempotent-replayed']).toBeUndefined()
    expect(reused.json.id).not.toBe(first.json.id)
    // The key now belongs to the new request, from now on.
    expect((await keyRow(key))?.age_hours).toBeLessThan(1)
    expect((await post({ title: 'after expiry' }, key)).json.id).toBe(reused.json.id)
    // Purged by that request; a key a minute short of expiry is kept and still replays.
    expect(await keyRow(stale)).toBeUndefined()
    expect(await keyRow(fresh)).toBeDefined()
    expect((await post({ title: 'fresh key' }, fresh)).headers['idempotent-replayed']).toBe('true')
  })
})

describe('concurrent requests with the same Idempotency-Key', () => {
  test('the second waits for the first to commit and replays it; a different body waits and answers 422', async () => {
    const title = `held ${randomUUID()}`
    const gate = await commitGate(app.database, title)
    try {
      const key = randomUUID()
      const [a, b, c] = [app.container(), app.container(), app.container()]
      const first = post({ title }, key, a)
      await gate.waitFor('advisory') // written, not yet committed
      const second = post({ title }, key, b)
      const different = post({ title: `${title} (other body)` }, key, c)
      // Both block on the uncommitted key row of the first: proof they overlap it.
      await gate.waitFor('transactionid', 2)
      await gate.open()
      const [r1, r2, r3] = await Promise.all([first, second, different])
      expect(r1.status).toBe(201)
      expect(r1.headers['idempotent-replayed']).toBeUndefined()
      expect(r2.status).toBe(201)
      expect(r2.headers['idempotent-replayed']).toBe('true')
      expect(r2.body).toBe(r1.body)
      expect(r3.status).toBe(422)
      expect(await notesTitled(title)).toEqual([r1.json.id])
    } finally {
      await gate.remove()
    }
  })

  test('eight containers sending the same request at once write exactly one note, and all answer its id', async () => {
    const key = randomUUID()
    const title = `burst ${key}`
    const containers = Array.from({ length: 8 }, () => app.container())
    const replies = await Promise.all(containers.map((invoke) => post({ title }, key, invoke)))
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(201))
    const ids = new Set(replies.map((r) => r.json.id))
    expect(ids.size).toBe(1)
    expect(replies.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1)
    expect(await notesTitled(title)).toEqual([...ids])
  })
})
