import middy from '@middy/core'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { afterAll, describe, expect, test } from 'vitest'
import { requestLog } from '../src/http/request-log.ts'
import { lambdaContext, toEventV2 } from '../src/local/events.ts'
import { capturedObservability } from './support/log-capture.ts'

const observed = capturedObservability('DEBUG')
afterAll(() => observed.stop())

const password = 'pw-never-logged-7f3a'
const parameter = 'param-never-logged-91c2'

/** What drizzle throws when the driver fails: its message lists the bound parameters; the cause may carry data. */
const drizzleError = () =>
  Object.assign(new Error(`Failed query: insert into "notes" ("title") values ($1)\nparams: ${parameter}`), {
    name: 'DrizzleQueryError',
    cause: Object.assign(new Error('duplicate key value violates unique constraint "notes_pkey"'), {
      name: 'PostgresError',
      code: '23505',
      detail: `Key (title)=(${parameter}) already exists.`,
      parameters: [parameter],
      data: { password },
    }),
  })

const invoke = async (fail: boolean, until: Promise<unknown> = Promise.resolve()) => {
  const handler = middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(requestLog(observed.logger, observed.metricsInstance))
    .handler(async (_event, context) => {
      ;(context as Context & { log: (l: 'debug', m: string, f: object) => void }).log(
        'debug',
        'handler ran',
        {
          step: 'one',
        },
      )
      await until
      if (fail) throw drizzleError()
      return { statusCode: 200, body: '{}' }
    })
  const event = toEventV2(
    {
      method: 'POST',
      url: '/notes',
      headers: { host: 'test' },
      body: Buffer.from(`{"password":"${password}"}`),
      sourceIp: '127.0.0.1',
    },
    { accountId: '123456789012', apiId: 'local', stage: '$default' },
  )
  return handler(
    event,
    lambdaContext({
      functionName: 'fn',
      region: 'eu-west-1',
      accountId: '1',
      memoryLimitInMB: 128,
      timeoutMs: 3000,
    }),
  )
}

describe('Middleware: requestLog on the Powertools Logger', () => {
  test('a 5xx logs the error by class, code and message, without parameters, cause data or the body', async () => {
    await expect(invoke(true)).rejects.toThrow()
    const failed = observed.logs().find((l) => l.message === 'request failed')
    expect(failed).toMatchObject({ level: 'ERROR', status: 500, method: 'POST', path: '/notes' })
    // Without problemDetails in front, the error's cause is the original: the driver's, by class and SQLSTATE.
    expect(failed?.error).toContain('PostgresError [23505] duplicate key value')
    const everything = observed.lines.join('\n')
    expect(everything).not.toContain(parameter)
    expect(everything).not.toContain(password)
  })

  test('a handler line carries the request id, and the request line its status and duration', async () => {
    await invoke(false)
    const lines = observed.logs().slice(-2)
    expect(lines[0]).toMatchObject({
      level: 'DEBUG',
      message: 'handler ran',
      step: 'one',
      requestId: expect.any(String),
    })
    expect(lines[1]).toMatchObject({
      level: 'INFO',
      message: 'request',
      status: 200,
      durationMs: expect.any(Number),
    })
    expect(lines[1]?.requestId).toBe(lines[0]?.requestId)
  })

  test('overlapping requests (the local server runs them in one process) each log their own request id', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    // The first request ends after the second began: the second's keys are the logger's by then.
    const first = invoke(true, gate).catch((error: unknown) => error)
    const second = await invoke(false)
    release()
    await first
    const handlerIds = observed
      .logs()
      .filter((l) => l.message === 'handler ran')
      .slice(-2)
      .map((l) => l.requestId)
    const answered = observed.logs().find((l) => l.message === 'request' && l.requestId === handlerIds[1])
    const failed = observed.logs().findLast((l) => l.message === 'request failed')
    expect(second).toMatchObject({ statusCode: 200 })
    expect(new Set(handlerIds).size).toBe(2)
    expect(answered?.status).toBe(200)
    expect(failed?.requestId).toBe(handlerIds[0])
  })
})
