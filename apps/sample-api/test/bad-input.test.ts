import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type AppUnderTest, createNote, type Reply, startApp } from './support/harness.ts'

let app: AppUnderTest
let existing: string
beforeAll(async () => {
  app = await startApp()
  existing = (await createNote(app, { title: 'existing' })).id
})
afterAll(() => app?.close())

/** A problem+json answer with this status whose `errors` name `field`, and a request id. */
const expectProblem = (reply: Reply, status: number, field: string) => {
  expect(reply.status, reply.body).toBe(status)
  expect(reply.headers['content-type']).toBe('application/problem+json')
  expect(reply.json).toMatchObject({ status, type: expect.stringMatching(/^urn:rdskit:problem:/) })
  expect(reply.json.requestId).toEqual(expect.any(String))
  expect(reply.json.errors?.map((e) => e.field)).toContain(field)
}

describe('request bodies', () => {
  test.each([
    ['truncated JSON', '{"title": "x"'],
    ['not JSON at all', 'title=x'],
    ['an empty body', ''],
  ])('%s answers 400 malformed-json naming body', async (_name, raw) => {
    const before = await app.count()
    const reply = await app.invoke('POST', '/notes', { body: raw })
    expectProblem(reply, 400, 'body')
    expect(reply.json.type).toBe('urn:rdskit:problem:malformed-json')
    expect(await app.count()).toBe(before)
  })

  test('a wrong content type answers 415 naming header.content-type, its detail not repeating the title', async () => {
    const reply = await app.invoke('POST', '/notes', {
      body: '{"title":"x"}',
      headers: { 'content-type': 'text/plain' },
    })
    expectProblem(reply, 415, 'header.content-type')
    expect(reply.json.title).toBe('Unsupported media type')
    expect(String(reply.json.detail).toLowerCase()).not.toContain('unsupported media type')
    expect(reply.json.detail).toBe('The body must be JSON, sent with Content-Type: application/json.')
  })

  test('a missing content type answers 415 too', async () => {
    const event = await app.invoke('PATCH', `/notes/${existing}`, {
      body: '{"title":"x"}',
      headers: { 'content-type': '', 'if-match': '"1"' },
    })
    expectProblem(event, 415, 'header.content-type')
  })

  test('a missing title answers 422 naming body.title', async () => {
    const reply = await app.invoke('POST', '/notes', { body: { body: 'no title' } })
    expectProblem(reply, 422, 'body.title')
    expect(reply.json.errors).toEqual([{ field: 'body.title', detail: 'is required' }])
    expect(reply.json.detail).toBe('body.title: is required')
  })

  test('wrong types answer in the API’s words, one error per field', async () => {
    const reply = await app.invoke('POST', '/notes', { body: { title: 5, tags: 'x', slug: [] } })
    expectProblem(reply, 422, 'body.title')
    expect(reply.json.errors).toEqual([
      { field: 'body.title', detail: 'must be a string' },
      { field: 'body.tags', detail: 'must be an array' },
      { field: 'body.slug', detail: 'must be a string' },
    ])
  })

  test('the title limit counts characters: 200 emoji are accepted, 201 refused', async () => {
    const emoji = '\u{1F600}'
    const accepted = await app.invoke('POST', '/notes', { body: { title: emoji.repeat(200) } })
    expect(accepted.status, accepted.body).toBe(201)
    expect(accepted.json.title).toBe(emoji.repeat(200))
    const refused = await app.invoke('POST', '/notes', { body: { title: emoji.repeat(201) } })
    expectProblem(refused, 422, 'body.title')
    expect(refused.json.errors).toEqual([{ field: 'body.title', detail: 'must be at most 200 characters' }])
  })

  test('the tag limit counts characters too: 40 astral letters are one tag, 41 are refused', async () => {
    const letter = '\u{1D49C}'
    const accepted = await app.invoke('POST', '/notes', { body: { title: 't', tags: [letter.repeat(40)] } })
    expect(accepted.status, accepted.body).toBe(201)
    const refused = await app.invoke('POST', '/notes', { body: { title: 't', tags: [letter.repeat(41)] } })
    expect(refused.json.errors).toEqual([{ field: 'body.tags.0', detail: 'must be at most 40 characters' }])
  })

  test('an unknown field answers 422 naming it', async () => {
    const reply = await app.invoke('POST', '/notes', { body: { title: 'x', colour: 'red' } })
    expectProblem(reply, 422, 'body.colour')
    expect(reply.json.errors?.find((e) => e.field === 'body.colour')?.detail).toContain('unknown field')
  })

  test.each([
    ['a blank title', { title: '   ' }, 'body.title'],
    ['a title of the wrong type', { title: 42 }, 'body.title'],
    ['a title too long', { title: 'x'.repeat(201) }, 'body.title'],
    ['a body too long', { title: 'x', body: 'y'.repeat(10_001) }, 'body.body'],
    ['a tag with a space', { title: 'x', tags: ['two words'] }, 'body.tags.0'],
    ['a tag that is not a string', { title: 'x', tags: ['ok', 3] }, 'body.tags.1'],
    ['too many tags', { title: 'x', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, 'body.tags'],
    ['tags not an array', { title: 'x', tags: 'a,b' }, 'body.tags'],
    ['an uppercase slug', { title: 'x', slug: 'Weekly' }, 'body.slug'],
    ['a NUL character', { title: 'a\u0000b' }, 'body.title'],
    ['an array instead of an object', [{ title: 'x' }], 'body'],
    ['null instead of an object', null, 'body'],
  ])('%s answers 422 naming the field', async (_name, body, field) => {
    const before = await app.count()
    expectProblem(await app.invoke('POST', '/notes', { body: body as unknown }), 422, field)
    expect(await app.count()).toBe(before)
  })

  test.each([
    ['__proto__', '{"title":"x","__proto__":{"admin":true}}'],
    ['constructor.prototype', '{"title":"x","tags":[],"constructor":{"prototype":{}}}'],
  ])('a %s key answers 422 naming body and pollutes nothing', async (_name, raw) => {
    const before = await app.count()
    const reply = await app.invoke('POST', '/notes', { body: raw })
    expectProblem(reply, 422, 'body')
    expect(reply.json.errors?.[0]?.detail).toContain('must not contain the key')
    expect(({} as { admin?: boolean }).admin).toBeUndefined()
    expect(await app.count()).toBe(before)
  })

  test('an oversized body answers 413 naming body before anything parses it', async () => {
    const reply = await app.invoke('POST', '/notes', { body: `{"title":"${'x'.repeat(70 * 1024)}"}` })
    expectProblem(reply, 413, 'body')
  })

  test('an empty PATCH answers 422 naming body', async () => {
    const reply = await app.invoke('PATCH', `/notes/${existing}`, {
      body: {},
      headers: { 'if-match': '"1"' },
    })
    expectProblem(reply, 422, 'body')
  })

  test('a PATCH of an unknown field answers 422 naming it', async () => {
    const reply = await app.invoke('PATCH', `/notes/${existing}`, {
      body: { version: 9 },
      headers: { 'if-match': '"1"' },
    })
    expectProblem(reply, 422, 'body.version')
  })
})

describe('path, query and headers', () => {
  test.each([
    ['GET', 'not-a-uuid'],
    ['GET', '123'],
    ['DELETE', 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz'],
    ['PATCH', "1' or '1'='1"],
  ])('%s /notes/%s answers 400 naming path.id', async (method, id) => {
    const reply = await app.invoke(method, `/notes/${encodeURIComponent(id)}`, {
      body: { title: 'x' },
      headers: { 'if-match': '"1"' },
    })
    expectProblem(reply, 400, 'path.id')
  })

  test.each(['0', '101', '-1', '1.5', 'abc', '', '1e2'])(
    'limit=%s answers 400 naming query.limit',
    async (limit) => {
      expectProblem(await app.invoke('GET', `/notes?limit=${limit}`), 400, 'query.limit')
    },
  )

  test.each(['garbage', 'WzEsMl0', 'eyJhIjoxfQ', '%00'])(
    'cursor=%s answers 400 naming query.cursor',
    async (c) => {
      expectProblem(await app.invoke('GET', `/notes?cursor=${c}`), 400, 'query.cursor')
    },
  )

  test('a tag filter with a space answers 400 naming query.tag', async () => {
    expectProblem(await app.invoke('GET', '/notes?tag=two%20words'), 400, 'query.tag.0')
  })

  test('an unknown query parameter answers 400 naming it', async () => {
    expectProblem(await app.invoke('GET', '/notes?sort=asc'), 400, 'query.sort')
    expectProblem(await app.invoke('GET', `/notes/${existing}?x=1`), 400, 'query.x')
  })

  test.each(['1', 'W/"1"', '"one"', '"1", "2"'])(
    'If-Match: %s answers 400 naming header.if-match',
    async (value) => {
      const reply = await app.invoke('PATCH', `/notes/${existing}`, {
        body: { title: 'x' },
        headers: { 'if-match': value },
      })
      expectProblem(reply, 400, 'header.if-match')
    },
  )
})
