import httpJsonBodyParser from '@middy/http-json-body-parser'
import { createError, HttpError } from '@middy/util'
import { describe, expect, test } from 'vitest'
import { toProblem } from '../src/http/errors.ts'

/** The error Middy's real JSON body parser raises for this body and content type. */
const parserError = (body: string | undefined, contentType = 'application/json'): HttpError => {
  const parser = httpJsonBodyParser()
  const request = { event: { headers: { 'content-type': contentType }, body, isBase64Encoded: false } }
  try {
    parser.before?.(request as never)
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError)
    return error as HttpError
  }
  throw new Error('the parser accepted the body')
}

/** The same error with Middy's wording replaced: what decides must be its type, status and cause. */
const reworded = (error: HttpError) => Object.assign(error, { message: 'reworded by a future Middy' })

describe('toProblem: Middy’s errors recognised by type, status and cause, never by message', () => {
  test.each([
    ['truncated JSON', '{"title": "x"'],
    ['not JSON at all', 'title=x'],
    ['no body at all', undefined],
  ])('%s from the body parser → 400 malformed-json', (_name, body) => {
    const problem = toProblem(reworded(parserError(body)))
    expect(problem.statusCode).toBe(400)
    expect(problem.problem).toMatchObject({ type: 'urn:rdskit:problem:malformed-json' })
  })

  test.each([
    ['__proto__', '{"title":"x","__proto__":{"admin":true}}'],
    ['constructor', '{"title":"x","constructor":{"prototype":{"admin":true}}}'],
  ])('a %s key from the body parser → 422 naming the key', (key, body) => {
    const problem = toProblem(reworded(parserError(body)))
    expect(problem.statusCode).toBe(422)
    expect(problem.problem).toMatchObject({
      type: 'urn:rdskit:problem:validation-failed',
      errors: [{ field: 'body', detail: `must not contain the key "${key}"` }],
    })
  })

  test('a wrong content type from the body parser → 415 naming the header', () => {
    const problem = toProblem(parserError('{}', 'text/plain'))
    expect(problem.statusCode).toBe(415)
    expect(problem.problem).toMatchObject({ errors: [{ field: 'header.content-type' }] })
  })

  test('another exposed 4xx HttpError keeps its status and message; a 404 is not-found', () => {
    expect(toProblem(createError(409, 'Already there')).problem).toMatchObject({
      status: 409,
      type: 'urn:rdskit:problem:bad-request',
      detail: 'Already there',
    })
    expect(toProblem(createError(404, 'Route does not exist')).problem).toMatchObject({
      type: 'urn:rdskit:problem:not-found',
    })
  })

  test('look-alikes are not Middy’s: a plain error with the parser’s wording and a status is a 500', () => {
    for (const message of ['Invalid or malformed JSON was provided', 'Forbidden key in JSON body']) {
      const impostor = Object.assign(new Error(message), { statusCode: 422, expose: true })
      expect(toProblem(impostor).statusCode).toBe(500)
    }
  })

  test('an HttpError that is not exposed, or a 5xx one, keeps its message to itself (500)', () => {
    expect(toProblem(createError(400, 'internal detail', { expose: false })).statusCode).toBe(500)
    expect(toProblem(createError(502, 'upstream said no')).problem).toMatchObject({
      status: 500,
      type: 'urn:rdskit:problem:internal-error',
    })
  })
})
