import middy from '@middy/core'
import { afterEach, describe, expect, it } from 'vitest'
import { RdsError, rds } from '../src/index.ts'
import { lambdaContext, resetAll, uniqueKey } from './helpers.ts'

afterEach(resetAll)

describe('onError of an invocation that never reached rds', () => {
  it("leaves an earlier middleware's error as it was (a KMS timeout is not a lost connection)", async () => {
    const kmsTimeout = Object.assign(
      new Error('a request has exceeded the configured 2000 ms requestTimeout'),
      {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      },
    )
    const handler = middy()
      .use({
        before: () => {
          throw new Error('kms-env failed', { cause: kmsTimeout })
        },
      })
      .use(
        rds({
          // Nothing listens there: rds's before never runs, so nothing may connect.
          config: { host: '127.0.0.1', port: 9, database: 'app', username: 'app', password: 'unused' },
          tls: false,
          cacheKey: uniqueKey('on-error'),
          logger: { warn() {} },
        }),
      )
      .handler(async () => 'unreachable')
    const error = await handler({}, lambdaContext(2_000)).catch((e: unknown) => e)
    expect(error).not.toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ message: 'kms-env failed', cause: kmsTimeout })
  })
})
