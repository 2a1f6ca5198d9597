import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import journal from '../drizzle/meta/_journal.json' with { type: 'json' }
import { type AppUnderTest, createNote, startApp } from './support/harness.ts'

let app: AppUnderTest
beforeAll(async () => {
  app = await startApp()
})
afterAll(() => app?.close())

describe('POST /notes', () => {
  test('creates a note with defaults and answers 201 with Location and ETag', async () => {
    const reply = await app.invoke('POST', '/notes', { body: { title: '  Groceries ' } })
    expect(reply.status).toBe(201)
    expect(reply.json).toMatchObject({ title: 'Groceries', body: '', tags: [], slug: null, version: 1 })
    expect(reply.headers.location).toBe(`/notes/${reply.json.id}`)
    expect(reply.headers.etag).toBe('"1"')
    expect(reply.headers['content-type']).toBe('application/json')
    expect(Date.parse(reply.json.createdAt as string)).not.toBeNaN()
  })

  test('deduplicates tags and keeps their order', async () => {
    const note = await createNote(app, { title: 't', tags: ['b', 'a', 'b'] })
    expect(note.tags).toEqual(['b', 'a'])
  })

  test('a taken slug answers 409 naming body.slug and writes nothing', async () => {
    await createNote(app, { title: 'first', slug: 'weekly-plan' })
    const before = await app.count()
    const reply = await app.invoke('POST', '/notes', { body: { title: 'second', slug: 'weekly-plan' } })
    expect(reply.status).toBe(409)
    expect(reply.headers['content-type']).toBe('application/problem+json')
    expect(reply.json.errors).toEqual([{ field: 'body.slug', detail: expect.stringContaining('unique') }])
    expect(await app.count()).toBe(before)
  })
})

describe('GET /notes/{id}', () => {
  test('returns the note with its ETag', async () => {
    const note = await createNote(app, { title: 'read me', body: 'text', tags: ['x'] })
    const reply = await app.invoke('GET', `/notes/${note.id}`)
    expect(reply.status).toBe(200)
    expect(reply.json).toMatchObject({ id: note.id, title: 'read me', body: 'text', tags: ['x'], version: 1 })
    expect(reply.headers.etag).toBe('"1"')
  })

  test('an unknown id answers 404 problem+json', async () => {
    const reply = await app.invoke('GET', '/notes/00000000-0000-4000-8000-000000000000')
    expect(reply.status).toBe(404)
    expect(reply.json).toMatchObject({
      status: 404,
      title: 'Not found',
      type: 'urn:rdskit:problem:not-found',
    })
    expect(reply.json.requestId).toEqual(expect.any(String))
  })
})

describe('PATCH /notes/{id}', () => {
  test('with the current ETag updates, bumps the version and returns the new ETag', async () => {
    const note = await createNote(app, { title: 'v1', tags: ['a'] })
    const reply = await app.invoke('PATCH', `/notes/${note.id}`, {
      body: { title: 'v2', tags: [] },
      headers: { 'if-match': '"1"' },
    })
    expect(reply.status).toBe(200)
    expect(reply.json).toMatchObject({ title: 'v2', tags: [], version: 2 })
    expect(reply.headers.etag).toBe('"2"')
    expect(Date.parse(reply.json.updatedAt as string)).toBeGreaterThanOrEqual(Date.parse(note.createdAt))
  })

  test('with a stale ETag answers 412 with the current ETag and changes nothing', async () => {
    const note = await createNote(app, { title: 'v1' })
    await app.invoke('PATCH', `/notes/${note.id}`, { body: { title: 'v2' }, headers: { 'if-match': '"1"' } })
    const reply = await app.invoke('PATCH', `/notes/${note.id}`, {
      body: { title: 'lost update' },
      headers: { 'if-match': '"1"' },
    })
    expect(reply.status).toBe(412)
    expect(reply.headers.etag).toBe('"2"')
    expect(reply.json.errors?.[0]?.field).toBe('header.if-match')
    expect((await app.invoke('GET', `/notes/${note.id}`)).json.title).toBe('v2')
  })

  test('two concurrent PATCHes with the same ETag: exactly one wins, the other gets 412', async () => {
    const note = await createNote(app, { title: 'race' })
    const replies = await Promise.all(
      ['a', 'b', 'c'].map((t) =>
        app.invoke('PATCH', `/notes/${note.id}`, { body: { title: t }, headers: { 'if-match': '"1"' } }),
      ),
    )
    expect(replies.map((r) => r.status).sort()).toEqual([200, 412, 412])
  })

  test('without If-Match answers 428 naming header.if-match', async () => {
    const note = await createNote(app, { title: 'v1' })
    const reply = await app.invoke('PATCH', `/notes/${note.id}`, { body: { title: 'v2' } })
    expect(reply.status).toBe(428)
    expect(reply.json.errors?.[0]?.field).toBe('header.if-match')
  })

  test('If-Match: * updates whatever the version', async () => {
    const note = await createNote(app, { title: 'v1' })
    const reply = await app.invoke('PATCH', `/notes/${note.id}`, {
      body: { body: 'x' },
      headers: { 'if-match': '*' },
    })
    expect(reply.status).toBe(200)
    expect(reply.json.version).toBe(2)
  })

  test('a slug another note holds answers 409 and leaves the note as it was', async () => {
    await createNote(app, { title: 'holder', slug: 'taken-slug' })
    const note = await createNote(app, { title: 'other' })
    const reply = await app.invoke('PATCH', `/notes/${note.id}`, {
      body: { title: 'renamed', slug: 'taken-slug' },
      headers: { 'if-match': '"1"' },
    })
    expect(reply.status).toBe(409)
    const after = await app.invoke('GET', `/notes/${note.id}`)
    expect(after.json).toMatchObject({ title: 'other', slug: null, version: 1 })
  })

  test('an unknown id answers 404', async () => {
    const reply = await app.invoke('PATCH', '/notes/00000000-0000-4000-8000-000000000000', {
      body: { title: 'x' },
      headers: { 'if-match': '"1"' },
    })
    expect(reply.status).toBe(404)
  })
})

describe('DELETE /notes/{id}', () => {
  test('deletes and answers 204; the note is gone', async () => {
    const note = await createNote(app, { title: 'bye' })
    const reply = await app.invoke('DELETE', `/notes/${note.id}`)
    expect(reply.status).toBe(204)
    expect(reply.body).toBe('')
    expect((await app.invoke('GET', `/notes/${note.id}`)).status).toBe(404)
    expect((await app.invoke('DELETE', `/notes/${note.id}`)).status).toBe(404)
  })

  test('with a stale If-Match answers 412 and keeps the note', async () => {
    const note = await createNote(app, { title: 'keep' })
    const reply = await app.invoke('DELETE', `/notes/${note.id}`, { headers: { 'if-match': '"7"' } })
    expect(reply.status).toBe(412)
    expect((await app.invoke('GET', `/notes/${note.id}`)).status).toBe(200)
  })
})

describe('GET /notes', () => {
  test('lists newest first, filters by every given tag and pages with a cursor', async () => {
    const tag = `t${Date.now()}`
    const made = []
    for (let i = 0; i < 5; i++)
      made.push(await createNote(app, { title: `n${i}`, tags: [tag, i % 2 ? 'odd' : 'even'] }))
    const first = await app.invoke('GET', `/notes?tag=${tag}&limit=2`)
    expect(first.status).toBe(200)
    const page1 = first.json.items as { title: string }[]
    expect(page1.map((n) => n.title)).toEqual(['n4', 'n3'])
    const second = await app.invoke('GET', `/notes?tag=${tag}&limit=2&cursor=${first.json.nextCursor}`)
    expect((second.json.items as { title: string }[]).map((n) => n.title)).toEqual(['n2', 'n1'])
    const third = await app.invoke('GET', `/notes?tag=${tag}&limit=2&cursor=${second.json.nextCursor}`)
    expect((third.json.items as { title: string }[]).map((n) => n.title)).toEqual(['n0'])
    expect(third.json.nextCursor).toBeNull()

    const both = await app.invoke('GET', `/notes?tag=${tag}&tag=odd`)
    expect((both.json.items as { title: string }[]).map((n) => n.title)).toEqual(['n3', 'n1'])
    const commaList = await app.invoke('GET', `/notes?tag=${tag},odd`)
    expect(commaList.json.items).toEqual(both.json.items)
  })

  test('defaults to 20 items and accepts limit=100', async () => {
    for (let i = 0; i < 21; i++) await createNote(app, { title: `bulk ${i}`, tags: ['bulk'] })
    const reply = await app.invoke('GET', '/notes?tag=bulk')
    expect((reply.json.items as unknown[]).length).toBe(20)
    expect(reply.json.nextCursor).toEqual(expect.any(String))
    const all = await app.invoke('GET', '/notes?tag=bulk&limit=100')
    expect((all.json.items as unknown[]).length).toBe(21)
  })
})

describe('GET /health', () => {
  test('answers 200 when the database is reachable and the migrations are current', async () => {
    const reply = await app.invoke('GET', '/health')
    expect(reply.status).toBe(200)
    expect(reply.json).toMatchObject({
      status: 'ok',
      database: 'reachable',
      migrations: { current: true, applied: journal.entries.length },
    })
  })
})

describe('HTTP behaviour', () => {
  test('every answer carries the security headers and CORS headers', async () => {
    const reply = await app.invoke('GET', '/health', { headers: { origin: 'https://app.example' } })
    expect(reply.headers['access-control-allow-origin']).toBe('*')
    expect(reply.headers['x-content-type-options']).toBe('nosniff')
    expect(reply.headers['strict-transport-security']).toContain('max-age')
    expect(reply.headers['content-security-policy']).toContain("default-src 'none'; frame-ancestors 'none'")
    const problem = await app.invoke('GET', '/nowhere', { headers: { origin: 'https://app.example' } })
    expect(problem.headers['access-control-allow-origin']).toBe('*')
    expect(problem.headers['x-content-type-options']).toBe('nosniff')
  })

  test('a CORS preflight is answered without touching a route', async () => {
    const reply = await app.invoke('OPTIONS', '/notes', {
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PATCH' },
    })
    expect(reply.status).toBe(204)
    expect(reply.headers['access-control-allow-methods']).toContain('PATCH')
  })

  test('an unknown path answers 404 and a known path with another method 405 with Allow', async () => {
    expect((await app.invoke('GET', '/nowhere')).status).toBe(404)
    const reply = await app.invoke('PUT', '/notes')
    expect(reply.status).toBe(405)
    expect(reply.headers.allow).toBe('POST, GET')
  })

  test('logs one JSON line per request with the API request id and the Lambda context', async () => {
    const before = app.logs.length
    await app.invoke('GET', '/health')
    const lines = app.logs.slice(before).map((l) => JSON.parse(l))
    const logLines = lines.filter((l) => typeof l.level === 'string')
    expect(logLines).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'request',
        method: 'GET',
        path: '/health',
        status: 200,
        requestId: expect.any(String),
        function_request_id: expect.any(String),
        function_name: expect.any(String),
        cold_start: expect.any(Boolean),
      }),
    ])
    // The request's keys do not outlive it (injectLambdaContext resets them).
    const [line] = logLines
    await app.invoke('GET', '/health')
    const next = app.logs
      .slice(before)
      .map((l) => JSON.parse(l))
      .filter((l) => typeof l.level === 'string')
    expect(next[1]?.requestId).not.toBe(line.requestId)
  })

  test('flushes one EMF metric set per request with its count, latency and error class', async () => {
    const before = app.logs.length
    await app.invoke('GET', '/nowhere')
    const documents = app.logs
      .slice(before)
      .map((l) => JSON.parse(l))
      .filter((l) => '_aws' in l)
    const metricSet = documents.find((d) => 'Requests' in d)
    expect(metricSet).toMatchObject({ Requests: 1, ClientErrors: 1, Latency: expect.any(Number) })
    const definitions = metricSet?._aws.CloudWatchMetrics[0]
    expect(definitions.Namespace).toBe('rdskit-sample-test')
    expect(definitions.Metrics).toEqual(
      expect.arrayContaining([
        { Name: 'Requests', Unit: 'Count' },
        { Name: 'Latency', Unit: 'Milliseconds' },
        { Name: 'ClientErrors', Unit: 'Count' },
      ]),
    )
  })
})
