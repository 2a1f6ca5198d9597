import { createServer } from 'node:net'
import middy from '@middy/core'
import { clearCache } from '@middy/util'
import type { ConnectionInfo } from '@rdskit/testing'
import type { Context } from 'aws-lambda'
import { close, type RdsOptions, rds } from '../src/index.ts'

/** postgres.js connection options for a test database (as rds's `config` and migrate's take them). */
export const configOf = (database: ConnectionInfo) => ({
  host: database.host,
  port: database.port,
  database: database.database,
  username: database.user,
  password: database.password,
})

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

/** One simulated container: a middy handler with its own rds() client. */
export function container<TResult>(
  options: RdsOptions<Record<string, unknown>, 'db'>,
  handler: (
    event: unknown,
    context: Context & { db: import('../src/index.ts').RdsDatabase<Record<string, unknown>> },
  ) => Promise<TResult>,
) {
  const cacheKey = options.cacheKey ?? uniqueKey('container')
  const wrapped = middy()
    .use(rds({ ...options, cacheKey }))
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

/** A loopback port nothing listens on: connects to it are refused (no server needed). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}
