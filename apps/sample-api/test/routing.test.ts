import { clearCache } from '@middy/util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type AppUnderTest, roleOf, startApp } from './support/harness.ts'

let app: AppUnderTest
let role: string

/** Decrypt calls the KMS test endpoint received: every one, answered or not. */
const decrypts = () => app.kms.calls().filter((call) => call.operation === 'Decrypt').length

/** Sessions the app's own role holds on the database (the admin's and other tests' are someone else's). */
const sessions = async () => {
  const [row] = await app.database.sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where usename = ${role}`
  return row?.n ?? 0
}

/** Polls `read` until it returns `want` (a server-side state that settles asynchronously), or fails. */
const until = async (read: () => number | Promise<number>, want: number, timeoutMs = 10_000) => {
  const deadline = performance.now() + timeoutMs
  let seen = await read()
  while (seen !== want && performance.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve))
    seen = await read()
  }
  expect(seen).toBe(want)
}

beforeAll(async () => {
  app = await startApp()
  role = await roleOf(app)
  // The prefetch at INIT decrypted the password once; the migrate step's session (same role) has ended.
  await until(() => app.kms.calls().filter((c) => c.operation === 'Decrypt' && c.status === 200).length, 1)
  await until(sessions, 0)
  // Forget the decrypted password: from here, kms-env running at all means one more Decrypt call.
  clearCache()
})
afterAll(() => app?.close())

describe('routing comes before KMS and the database', () => {
  test.each([
    ['an unknown path answers 404', 'GET', '/nowhere', {}, 404],
    ['a known path with another method answers 405', 'PUT', '/notes', {}, 405],
    [
      'a CORS preflight answers 204',
      'OPTIONS',
      '/notes',
      { origin: 'https://app.example', 'access-control-request-method': 'PATCH' },
      204,
    ],
    ['a request that fails validation answers 400', 'GET', '/notes/not-a-note-id', {}, 400],
  ])('%s without a Decrypt or a database session', async (_name, method, path, headers, status) => {
    const reply = await app.invoke(method, path, { headers })
    expect(reply.status, reply.body).toBe(status)
    expect(decrypts()).toBe(1)
    expect(await sessions()).toBe(0)
  })

  test('a matched, valid request decrypts the password and opens the session (the counters see it)', async () => {
    const reply = await app.invoke('GET', '/notes')
    expect(reply.status, reply.body).toBe(200)
    expect(decrypts()).toBe(2)
    expect(await sessions()).toBeGreaterThanOrEqual(1)
  })
})
