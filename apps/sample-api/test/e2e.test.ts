import { afterAll, beforeAll, expect, test } from 'vitest'
import { caller, type LocalProcess, startLocalProcess } from './support/local-process.ts'

/**
 * Starts exactly what `pnpm start` starts (scripts/local.ts: throwaway PostgreSQL, KMS test endpoint,
 * the rdskit-kms CLI, migrate(), the handler behind the local API Gateway adapter) on a free port and
 * drives it over HTTP, then stops it with SIGINT as Ctrl-C would.
 */
let local: LocalProcess
let url = ''
let call: ReturnType<typeof caller>
const out = () => local.output()

beforeAll(async () => {
  local = await startLocalProcess({ FUNCTION_NAME: 'rdskit-e2e' })
  url = local.url
  call = caller(url)
}, 120_000)

afterAll(() => {
  if (local?.child.exitCode === null) local.child.kill('SIGKILL')
})

test('prints the URL and a curl example, and reports each step', () => {
  expect(out().stdout).toContain(`curl -s -X POST ${url}/notes`)
  expect(out().stderr).toMatch(/PostgreSQL \d+ on 127\.0\.0\.1:\d+ \(pid \d+, throwaway\)/)
  expect(out().stderr).toContain(
    'encrypted the app password with rdskit-kms encrypt (context LambdaFunctionName=rdskit-e2e)',
  )
  expect(out().stderr).toContain('migrations applied')
})

test('serves every route over HTTP through the adapter', async () => {
  const health = await call('GET', '/health')
  expect(health.res.status).toBe(200)
  expect(health.json.migrations.current).toBe(true)

  const created = await call('POST', '/notes', { title: 'e2e', tags: ['e2e'] })
  expect(created.res.status).toBe(201)
  expect(created.res.headers.get('apigw-requestid')).toEqual(expect.any(String))
  const id = created.json.id as string

  const listed = await call('GET', '/notes?tag=e2e&limit=5')
  expect(listed.json.items.map((n: { id: string }) => n.id)).toEqual([id])

  const patched = await call(
    'PATCH',
    `/notes/${id}`,
    { body: 'edited' },
    { 'if-match': created.res.headers.get('etag') ?? '' },
  )
  expect(patched.res.status).toBe(200)
  expect(patched.json.version).toBe(2)

  const stale = await call('PATCH', `/notes/${id}`, { body: 'lost' }, { 'if-match': '"1"' })
  expect(stale.res.status).toBe(412)

  const bad = await call('GET', '/notes?limit=500')
  expect(bad.res.status).toBe(400)
  expect(bad.res.headers.get('content-type')).toBe('application/problem+json')
  expect(bad.json.errors[0].field).toBe('query.limit')

  expect((await call('DELETE', `/notes/${id}`)).res.status).toBe(204)
  expect((await call('GET', `/notes/${id}`)).res.status).toBe(404)
})

test('logs one JSON line per request with the request id the client saw', async () => {
  const { res } = await call('GET', '/health')
  const requestId = res.headers.get('apigw-requestid')
  const lineFor = () =>
    out()
      .stdout.split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.requestId === requestId)
  // The log line is written after the answer: wait for it to reach our pipe.
  await expect.poll(lineFor).toBeDefined()
  const line = lineFor()
  expect(line).toMatchObject({ level: 'INFO', message: 'request', status: 200, path: '/health' })
})

test('Ctrl-C (SIGINT) stops everything: the process exits 0 and the PostgreSQL server is gone', async () => {
  const pid = Number(/pid (\d+), throwaway/.exec(out().stderr)?.[1])
  expect(pid).toBeGreaterThan(0)
  expect(await local.interrupt()).toBe(0)
  expect(out().stderr).toContain('stopped; temporary data removed')
  expect(() => process.kill(pid, 0)).toThrow()
  await expect(fetch(`${url}/health`)).rejects.toThrow()
}, 60_000)
