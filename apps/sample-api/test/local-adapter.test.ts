import { connect } from 'node:net'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { afterEach, describe, expect, test } from 'vitest'
import { type LocalApi, startLocalApi } from '../src/local/adapter.ts'
import { clfTime, lambdaContext, parseQuery, toEventV2 } from '../src/local/events.ts'

const options = { accountId: '123456789012', apiId: 'local', stage: '$default' }

describe('toEventV2: the payload 2.0 event API Gateway sends', () => {
  test('carries version, routeKey, raw path and query, lowercase headers and the request context', () => {
    const now = new Date(Date.UTC(2020, 2, 12, 19, 3, 58, 390))
    const event = toEventV2(
      {
        method: 'get',
        url: '/notes/a%20b?tag=x&tag=y&limit=5&flag',
        headers: { Host: 'api.example.test', 'User-Agent': 'curl/8', 'X-Multi': ['1', '2'] },
        body: Buffer.alloc(0),
        sourceIp: '203.0.113.9',
      },
      { ...options, now },
    )
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/notes/a%20b',
      rawQueryString: 'tag=x&tag=y&limit=5&flag',
      queryStringParameters: { tag: 'x,y', limit: '5', flag: '' },
      isBase64Encoded: false,
      requestContext: {
        accountId: '123456789012',
        apiId: 'local',
        domainName: 'api.example.test',
        domainPrefix: 'api',
        http: {
          method: 'GET',
          path: '/notes/a b',
          protocol: 'HTTP/1.1',
          sourceIp: '203.0.113.9',
          userAgent: 'curl/8',
        },
        routeKey: '$default',
        stage: '$default',
        time: '12/Mar/2020:19:03:58 +0000',
        timeEpoch: now.getTime(),
      },
    })
    expect(event.headers).toMatchObject({
      host: 'api.example.test',
      'user-agent': 'curl/8',
      'x-multi': '1,2',
    })
    expect(Object.keys(event.headers).every((k) => k === k.toLowerCase())).toBe(true)
    expect(event.headers['x-forwarded-for']).toBe('203.0.113.9')
    expect(event.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/)
    expect(event.requestContext.requestId).toMatch(/^[A-Za-z0-9+/]{15}=$/)
    expect(event.body).toBeUndefined()
    expect('queryStringParameters' in toEventV2({ ...baseRequest, url: '/health' }, options)).toBe(false)
  })

  test('moves cookies out of the headers into `cookies`', () => {
    const event = toEventV2({ ...baseRequest, headers: { cookie: 'a=1; b=2' } }, options)
    expect(event.cookies).toEqual(['a=1', 'b=2'])
    expect(event.headers.cookie).toBeUndefined()
  })

  test('passes a JSON body as text and a binary body base64-encoded', () => {
    const text = toEventV2(
      { ...baseRequest, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":"é"}') },
      options,
    )
    expect(text).toMatchObject({ body: '{"a":"é"}', isBase64Encoded: false })
    const binary = toEventV2(
      {
        ...baseRequest,
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from([0, 255]),
      },
      options,
    )
    expect(binary).toMatchObject({ body: 'AP8=', isBase64Encoded: true })
  })

  test('parseQuery decodes keys and values and joins duplicates with commas', () => {
    expect(parseQuery('a=1&a=2&b=x%2Cy&c+d=e+f&%ZZ=1')).toEqual({
      a: '1,2',
      b: 'x,y',
      'c d': 'e f',
      '%ZZ': '1',
    })
    expect(parseQuery('')).toBeUndefined()
    expect(clfTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toBe('02/Jan/2026:03:04:05 +0000')
  })

  test('the Lambda context counts down the remaining time and names the function', async () => {
    const context = lambdaContext({
      functionName: 'fn',
      region: 'eu-west-1',
      accountId: '123456789012',
      memoryLimitInMB: 1024,
      timeoutMs: 1_000,
    })
    expect(context.invokedFunctionArn).toBe('arn:aws:lambda:eu-west-1:123456789012:function:fn')
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/)
    const first = context.getRemainingTimeInMillis()
    await new Promise((r) => setTimeout(r, 20))
    expect(context.getRemainingTimeInMillis()).toBeLessThan(first)
    expect(first).toBeLessThanOrEqual(1_000)
  })
})

const baseRequest = { method: 'POST', url: '/x', headers: {}, body: Buffer.alloc(0), sourceIp: '127.0.0.1' }

describe('startLocalApi: the HTTP side of API Gateway', () => {
  let api: LocalApi | undefined
  afterEach(() => api?.close())

  test('invokes the handler with the event and context, and writes a structured result', async () => {
    let seen: { event: APIGatewayProxyEventV2; context: Context } | undefined
    api = await startLocalApi({
      port: 0,
      handler: async (event, context) => {
        seen = { event, context }
        return { statusCode: 201, headers: { 'X-Thing': 'y' }, cookies: ['a=1', 'b=2'], body: '{"ok":true}' }
      },
    })
    const res = await fetch(`${api.url}/notes?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: 'c=3' },
      body: '{"title":"t"}',
    })
    expect(res.status).toBe(201)
    expect(res.headers.get('x-thing')).toBe('y')
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
    expect(res.headers.get('apigw-requestid')).toBe(seen?.event.requestContext.requestId)
    expect(await res.json()).toEqual({ ok: true })
    expect(seen?.event).toMatchObject({
      rawPath: '/notes',
      body: '{"title":"t"}',
      cookies: ['c=3'],
      queryStringParameters: { x: '1' },
    })
    expect(seen?.context.getRemainingTimeInMillis()).toBeGreaterThan(28_000)
  })

  test('a result without statusCode becomes a 200 JSON body', async () => {
    api = await startLocalApi({ port: 0, handler: async () => ({ hello: 'world' }) as never })
    const res = await fetch(`${api.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({ hello: 'world' })
  })

  test('a thrown error becomes API Gateway’s bare 500 and a timeout its 503', async () => {
    api = await startLocalApi({
      port: 0,
      timeoutMs: 100,
      handler: async (event) => {
        if (event.rawPath === '/slow') await new Promise((r) => setTimeout(r, 1_000))
        throw new Error('secret internals')
      },
    })
    const crash = await fetch(`${api.url}/crash`)
    expect(crash.status).toBe(500)
    expect(await crash.json()).toEqual({ message: 'Internal Server Error' })
    const slow = await fetch(`${api.url}/slow`)
    expect(slow.status).toBe(503)
    expect(await slow.json()).toEqual({ message: 'Service Unavailable' })
  })

  test('a payload over the API Gateway limit is refused with 413 before the handler runs', async () => {
    let called = false
    api = await startLocalApi({
      port: 0,
      maxPayloadBytes: 1024,
      handler: async () => {
        called = true
        return { statusCode: 200 }
      },
    })
    const res = await fetch(`${api.url}/notes`, { method: 'POST', body: 'x'.repeat(2048) })
    expect(res.status).toBe(413)
    expect(called).toBe(false)
  })
})

/** Sends `raw` bytes as they are (no client fixes the request line) and reads the whole answer. */
const sendRaw = (url: string, raw: string) =>
  new Promise<string>((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = connect(Number(port), hostname, () => socket.write(raw))
    let answer = ''
    socket.on('data', (data) => {
      answer += data.toString()
    })
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
  })

describe('startLocalApi: requests the HTTP parser refuses', () => {
  let api: LocalApi | undefined
  afterEach(() => api?.close())

  test.each([
    ['an unencoded space in the query', 'GET /notes?tag=a b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a raw non-ASCII byte in the path', 'GET /notes/\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a header without a colon', 'GET /notes HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n'],
  ])('%s answers 400 problem+json naming the request, without invoking the handler', async (_, raw) => {
    let called = false
    api = await startLocalApi({
      port: 0,
      handler: async () => {
        called = true
        return { statusCode: 200 }
      },
    })
    const answer = await sendRaw(api.url, raw)
    const [head = '', body = ''] = answer.split('\r\n\r\n')
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(head).toContain('content-type: application/problem+json')
    expect(JSON.parse(body)).toMatchObject({
      type: 'urn:rdskit:problem:bad-request',
      status: 400,
      errors: [{ field: 'request', detail: expect.stringMatching(/percent-encode spaces \(%20\)/) }],
      requestId: expect.any(String),
    })
    expect(called).toBe(false)
  })
})

test('query keys and header names that shadow Object.prototype stay plain own properties', () => {
  expect(parseQuery('__proto__=x&toString=y&toString=z')).toEqual(
    Object.fromEntries([
      ['__proto__', 'x'],
      ['toString', 'y,z'],
    ]),
  )
  const event = toEventV2({ ...baseRequest, headers: { __proto__: 'p', constructor: 'c' } as never }, options)
  expect(Object.getPrototypeOf(event.headers)).toBe(Object.prototype)
  expect(event.headers.constructor).toBe('c')
})

test('uuidv7 ids sort in creation order, within one millisecond too, and are RFC 9562 version 7', async () => {
  const { uuidv7 } = await import('../src/db/uuidv7.ts')
  const ids = Array.from({ length: 5000 }, () => uuidv7(1_800_000_000_000))
  expect([...ids].sort()).toEqual(ids)
  expect(new Set(ids).size).toBe(ids.length)
  for (const id of ids.slice(0, 10))
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  expect(ids[0]?.slice(0, 13)).toBe('01a3185c-5000'.slice(0, 13))
  // The random part (62 bits after the variant) comes from a pool refilled every 512 ids: never reused.
  expect(new Set(ids.map((id) => id.slice(19))).size).toBe(ids.length)
})
