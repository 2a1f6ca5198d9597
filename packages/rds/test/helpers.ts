import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import middy from '@middy/core'
import { clearCache } from '@middy/util'
import type { ConnectionInfo, PostgresCluster } from '@rdskit/testing'
import type { Context } from 'aws-lambda'
import { inject } from 'vitest'
import { close, type RdsOptions, rds, type TlsOption } from '../src/index.ts'

/**
 * postgres.js connection options for a test database (as rds's `config` and migrate's take them), tagged with
 * an application_name to find its sessions by when one is given.
 */
export const configOf = (database: ConnectionInfo, applicationName?: string) => ({
  host: database.host,
  port: database.port,
  database: database.database,
  username: database.user,
  password: database.password,
  ...(applicationName ? { connection: { application_name: applicationName } } : {}),
})

/**
 * rds's `tls` for the run-wide cluster: verify-full against its CA (it is TLS-only, as RDS with
 * `rds.force_ssl`). An external server (TEST_DATABASE_URL) gives no CA: verify-full against the default
 * store (NODE_EXTRA_CA_CERTS), unless its URL says `sslmode=disable`.
 */
export function sharedTls(): TlsOption {
  const info = inject('rdskitPostgres')
  if (info?.ca) return { ca: info.ca }
  const sslmode = info?.url ? new URL(info.url).searchParams.get('sslmode') : null
  return sslmode === 'disable' ? false : 'verify-full'
}

let keys = 0
/** A unique Middy cache key per simulated container, so tests never share a client by accident. */
export const uniqueKey = (label: string) => `@rdskit/rds:test:${label}:${++keys}`

/** A Lambda context whose remaining time counts down from `budgetMs` at the call. */
export function lambdaContext(budgetMs = 5_000): Context {
  const start = Date.now()
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'rds-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:rds-test',
    memoryLimitInMB: '512',
    awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
    logGroupName: '/aws/lambda/rds-test',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => Math.max(0, budgetMs - (Date.now() - start)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
}

/**
 * One simulated container: a middy handler with its own rds() client. Without `tls` it connects with
 * verify-full against the run-wide cluster's CA (see sharedTls).
 */
export function container<TResult>(
  options: RdsOptions<Record<string, unknown>, 'db'>,
  handler: (
    event: unknown,
    context: Context & { db: import('../src/index.ts').RdsDatabase<Record<string, unknown>> },
  ) => Promise<TResult>,
) {
  const cacheKey = options.cacheKey ?? uniqueKey('container')
  const wrapped = middy()
    .use(rds({ tls: sharedTls(), ...options, cacheKey }))
    .handler(handler as never)
  return {
    cacheKey,
    invoke: (event: unknown = {}, budgetMs = 5_000) =>
      wrapped(event as never, lambdaContext(budgetMs) as never) as Promise<TResult>,
  }
}

export async function resetAll() {
  await close()
  clearCache()
}

/** Blocks the event loop like a Lambda freeze: no timer, socket event or promise runs meanwhile. */
export function freeze(ms: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Waits, without letting the event loop run, until backend `pid` has exited: its FATAL and FIN are then in
 * this process's receive buffer, unread, as after a freeze. Falls back to polling the server (event loop
 * running) when the backend is not a local process (TEST_DATABASE_URL).
 */
export async function backendGone(cluster: PostgresCluster, pid: number, timeoutMs = 10_000) {
  const until = performance.now() + timeoutMs
  if (!cluster.external) {
    while (performance.now() < until) {
      let state: string | undefined
      try {
        state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]
      } catch {
        return
      }
      if (state === 'Z' || state === 'X') return
      freeze(0.2)
    }
  } else {
    while (performance.now() < until) {
      if ((await cluster.sql`select 1 from pg_stat_activity where pid = ${pid}`).length === 0) return
      await sleep(1)
    }
  }
  throw new Error(`backend ${pid} did not exit within ${timeoutMs} ms`)
}

/** A loopback port nothing listens on: connects to it are refused (no server needed). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}
