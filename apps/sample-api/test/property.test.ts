import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type AppUnderTest, createNote, startApp } from './support/harness.ts'

let app: AppUnderTest
let target: string
beforeAll(async () => {
  app = await startApp()
  for (let i = 0; i < 5; i++) await createNote(app, { title: `seed ${i}`, tags: ['seed'] })
  target = (await createNote(app, { title: 'patch target' })).id
})
afterAll(() => app?.close())

/** A digest of every row: any write, however small, changes it. */
const fingerprint = async () => {
  const [row] = await app.database.sql<{ digest: string }[]>`
    select coalesce(md5(string_agg(n::text, '|' order by id)), '') as digest from notes n`
  return row?.digest
}

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', ' ', '\u0000', 'a'.repeat(300)),
)
const fieldValue = fc.oneof(anyString, fc.jsonValue(), fc.array(anyString, { maxLength: 25 }))
const noteLike = fc.record(
  {
    title: fieldValue,
    body: fieldValue,
    tags: fieldValue,
    slug: fc.oneof(fieldValue, fc.constant(null)),
    version: fieldValue,
    extra: fieldValue,
  },
  { requiredKeys: [] },
)
/** A raw request body: valid-looking notes, arbitrary JSON, or not JSON at all. */
const rawBody = fc.oneof(
  noteLike.map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  anyString,
  // Prototype-polluting keys, which fc.jsonValue produces only rarely.
  fc
    .tuple(fc.constantFrom('"__proto__":{"a":1}', '"constructor":{"prototype":{}}'), noteLike)
    .map(([key, v]) => `{${key}${Object.keys(v).length ? ',' : ''}${JSON.stringify(v).slice(1)}`),
)
const contentType = fc.constantFrom('application/json', 'application/merge-patch+json', 'text/plain', '')

const runs = { numRuns: 300 }

/** valibot's own phrasing (`Invalid key: Expected "title" but received undefined`), never the API's. */
const libraryWording = /Invalid (key|type|length|value|format)|Expected .* but received/

/** Every problem answer names a field for each error, in the API's own words. */
const expectOwnWording = (reply: { status: number; body: string; json: Record<string, unknown> }) => {
  if (reply.status < 400) return
  expect(reply.body).not.toMatch(libraryWording)
  for (const e of (reply.json.errors ?? []) as { field: string; detail: string }[]) {
    expect(e.field).toMatch(/^(body|query|path|header|request)\b/)
    expect(e.detail.length).toBeGreaterThan(0)
  }
}

describe('random input never produces a 5xx and never changes the table unless valid', () => {
  test('POST /notes with random bodies', async () => {
    await fc.assert(
      fc.asyncProperty(rawBody, contentType, async (body, type) => {
        const before = await fingerprint()
        const count = await app.count()
        const reply = await app.invoke('POST', '/notes', { body, headers: { 'content-type': type } })
        expect(reply.status, reply.body).toBeLessThan(500)
        expectOwnWording(reply)
        if (reply.status === 201) expect(await app.count()).toBe(count + 1)
        else {
          expect([400, 413, 415, 422, 409]).toContain(reply.status)
          expect(reply.json.errors?.length, reply.body).toBeGreaterThan(0)
          expect(await fingerprint()).toBe(before)
        }
      }),
      runs,
    )
  })

  test('PATCH /notes/{id} with random bodies', async () => {
    await fc.assert(
      fc.asyncProperty(rawBody, contentType, async (body, type) => {
        const before = await fingerprint()
        const reply = await app.invoke('PATCH', `/notes/${target}`, {
          body,
          headers: { 'content-type': type, 'if-match': '*' },
        })
        expect(reply.status, reply.body).toBeLessThan(500)
        expectOwnWording(reply)
        if (reply.status !== 200) expect(await fingerprint()).toBe(before)
      }),
      runs,
    )
  })

  test('GET /notes with random query strings', async () => {
    const key = fc.oneof(fc.constantFrom('limit', 'cursor', 'tag'), anyString)
    const value = fc.oneof(
      anyString,
      fc.integer().map(String),
      fc.constantFrom('0', '100', '101', 'seed', 'a,b'),
    )
    const query = fc.oneof(
      fc
        .array(fc.tuple(key, value), { maxLength: 4 })
        .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
      fc.string({ unit: 'binary-ascii' }).map((s) => s.replace(/[#\s]/g, '')),
    )
    const before = await fingerprint()
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const reply = await app.invoke('GET', `/notes?${q}`)
        expect(reply.status, reply.body).toBeLessThan(500)
        expectOwnWording(reply)
        if (reply.status === 200) expect((reply.json.items as unknown[]).length).toBeLessThanOrEqual(100)
        else expect(reply.status).toBe(400)
      }),
      runs,
    )
    expect(await fingerprint()).toBe(before)
  })
})
