import diagnostics from 'node:diagnostics_channel'
import { afterEach, describe, expect, it } from 'vitest'
import { RdsError } from '../../src/errors.ts'
import {
  channelNames,
  connectFailed,
  connectSucceeded,
  describeFailure,
  publishRecover,
  queryFailed,
  querySucceeded,
  sanitizeSql,
  shapeOf,
  startConnect,
  startQuery,
  tlsModeOf,
} from '../../src/events/index.ts'

const target = { host: 'db.example.internal', port: 5432, database: 'app', user: 'app_user', pooler: false }
const stages = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const
const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** Subscribes to every stage of a tracing channel and records (stage, a snapshot of the payload). */
function recordTracing(name: string) {
  const seen: Array<{ stage: string; payload: Record<string, unknown> }> = []
  const channel = diagnostics.tracingChannel(name)
  const handlers = Object.fromEntries(
    stages.map((stage) => [
      stage,
      (payload: unknown) => seen.push({ stage, payload: { ...(payload as object) } }),
    ]),
  ) as never
  channel.subscribe(handlers)
  cleanups.push(() => channel.unsubscribe(handlers))
  return seen
}

function recordPlain(name: string) {
  const seen: unknown[] = []
  const listener = (message: unknown) => seen.push(message)
  diagnostics.subscribe(name, listener)
  cleanups.push(() => diagnostics.unsubscribe(name, listener))
  return seen
}

/** A postgres.js-like server error whose message quotes the value and whose object holds the parameters. */
function serverError(value: string) {
  return Object.assign(new Error(`invalid input syntax for type integer: "${value}"`), {
    name: 'PostgresError',
    code: '22P02',
    detail: `value ${value}`,
    parameters: [value],
    query: 'select $1::int',
  })
}

describe('Function: startConnect', () => {
  it('builds nothing and returns undefined when nobody subscribes', () => {
    expect(diagnostics.tracingChannel(channelNames.connect).hasSubscribers).toBe(false)
    expect(startConnect(target, 1, 'verify-full')).toBeUndefined()
    // Settling nothing is a no-op, so the connection code needs no branch of its own.
    expect(() => connectSucceeded(undefined)).not.toThrow()
  })

  it('publishes start and end, then asyncStart and asyncEnd with the duration, on one payload', () => {
    const seen = recordTracing(channelNames.connect)
    const event = startConnect(target, 2, 'verify-full')
    expect(seen.map((s) => s.stage)).toEqual(['start', 'end'])
    expect(seen[0]?.payload).toEqual({ version: 1, ...target, attempt: 2, tls: 'verify-full' })
    connectSucceeded(event)
    expect(seen.map((s) => s.stage)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd'])
    expect(seen[3]?.payload.durationMs).toBeGreaterThanOrEqual(0)
    expect(seen[3]?.payload.error).toBeUndefined()
  })

  it('publishes error before asyncStart and asyncEnd, with the error summarised by code', () => {
    const seen = recordTracing(channelNames.connect)
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' })
    connectFailed(startConnect(target, 1, 'disable'), refused)
    expect(seen.map((s) => s.stage)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    expect(seen[2]?.payload.error).toEqual({ name: 'Error', code: 'ECONNREFUSED' })
  })
})

describe('Function: startQuery', () => {
  it('returns undefined when nobody subscribes', () => {
    expect(startQuery(target, 'select 1')).toBeUndefined()
  })

  it('carries the sanitised statement, operation, summary and read-only flag, then the row count', () => {
    const seen = recordTracing(channelNames.query)
    const event = startQuery(target, `select "id", "title" from "notes" where "notes"."id" = $1 limit $2`)
    expect(seen[0]?.payload).toMatchObject({
      version: 1,
      ...target,
      statement: 'select "id", "title" from "notes" where "notes"."id" = $1 limit $2',
      operation: 'SELECT',
      summary: 'SELECT notes',
      readOnly: true,
    })
    querySucceeded(event, 3)
    expect(seen.at(-1)?.payload).toMatchObject({ rowCount: 3 })
  })

  it('shows subscribers only its documented fields, and measures its duration from when it began', async () => {
    const seen = recordTracing(channelNames.query)
    const event = startQuery(target, 'select 1') as object
    const documented = ['version', ...Object.keys(target), 'statement', 'operation', 'summary', 'readOnly']
    expect(Object.keys(event).sort()).toEqual([...documented].sort())
    await new Promise((resolve) => setTimeout(resolve, 25))
    querySucceeded(event as never, 1)
    expect(Object.keys(event).sort()).toEqual([...documented, 'durationMs', 'rowCount'].sort())
    expect(seen.at(-1)?.payload.durationMs).toBeGreaterThanOrEqual(20)
    expect(seen.at(-1)?.payload.durationMs).toBeLessThan(1_000)
  })

  it('marks writes as not read-only and names their table', () => {
    expect(shapeOf('insert into "notes" ("title") values ($1) returning "id"')).toMatchObject({
      operation: 'INSERT',
      summary: 'INSERT notes',
      readOnly: false,
    })
    expect(shapeOf('update "public"."notes" set "title" = $1')).toMatchObject({
      summary: 'UPDATE public.notes',
    })
  })

  it('summarises a failed statement by SQLSTATE without the message that quotes the value', () => {
    const seen = recordTracing(channelNames.query)
    queryFailed(startQuery(target, 'select $1::int'), serverError('hunter2-value'))
    const error = seen.find((s) => s.stage === 'error')?.payload.error
    expect(error).toEqual({ name: 'PostgresError', code: '22P02', sqlstate: '22P02' })
    expect(JSON.stringify(seen)).not.toContain('hunter2')
  })
})

describe('Function: publishRecover', () => {
  it('publishes one payload per step with the target, reason, action, code, attempt and delay', () => {
    const seen = recordPlain(channelNames.recover)
    publishRecover(target, {
      reason: 'exhaustion',
      action: 'backoff',
      attempt: 2,
      code: '53300',
      delayMs: 37,
    })
    expect(seen).toEqual([
      {
        version: 1,
        ...target,
        reason: 'exhaustion',
        action: 'backoff',
        attempt: 2,
        code: '53300',
        delayMs: 37,
      },
    ])
  })

  it('leaves out the code and delay when the step has none', () => {
    const seen = recordPlain(channelNames.recover)
    publishRecover(target, { reason: 'freeze', action: 'reconnect', attempt: 1 })
    expect(Object.keys(seen[0] as object)).not.toContain('delayMs')
    expect(Object.keys(seen[0] as object)).not.toContain('code')
  })

  it('does nothing when nobody subscribes', () => {
    expect(diagnostics.channel(channelNames.recover).hasSubscribers).toBe(false)
    expect(() => publishRecover(target, { reason: 'reset', action: 'retry', attempt: 1 })).not.toThrow()
  })
})

describe('Function: sanitizeSql', () => {
  it('keeps placeholders and quoted identifiers, replaces literals and drops comments', () => {
    expect(
      sanitizeSql(
        `select "a1", 'pa''ss' , E'x\\'y', $$dollar secret$$, $tag$ t $tag$, 42, 3.5e2, .5 /* token=abc */ from t2 where x = $1 -- sk_live\n`,
      ),
    ).toBe('select "a1", ? , ?, ?, ?, ?, ?, ? from t2 where x = $1')
  })

  it('hides the rest of an unterminated literal (a statement cut off mid-string)', () => {
    expect(sanitizeSql("select 'secret-token-that-never-ends")).toBe('select ?')
  })

  it('caps the length', () => {
    expect(sanitizeSql(`select ${'a, '.repeat(5000)}b`).length).toBeLessThanOrEqual(2048)
  })
})

describe('Function: describeFailure', () => {
  it('keeps the message of an RdsError (written by rdskit) with its code, SQLSTATE and retryability', () => {
    const error = new RdsError('TOO_MANY_CONNECTIONS', 'no free slot at db:5432 (SQLSTATE 53300)', {
      sqlstate: '53300',
      retryable: true,
      cause: serverError('inner-secret'),
    })
    const described = describeFailure(
      Object.assign(new Error('Failed query'), { name: 'DrizzleQueryError', cause: error }),
    )
    expect(described).toMatchObject({
      name: 'RdsError',
      code: 'TOO_MANY_CONNECTIONS',
      sqlstate: '53300',
      retryable: true,
    })
    expect(JSON.stringify(described)).not.toContain('inner-secret')
  })

  it('describes a DrizzleQueryError (whose message lists the parameters) by its cause', () => {
    const wrapped = Object.assign(new Error('Failed query: select $1\nparams: hunter2'), {
      name: 'DrizzleQueryError',
      cause: serverError('hunter2'),
    })
    expect(describeFailure(wrapped)).toEqual({ name: 'PostgresError', code: '22P02', sqlstate: '22P02' })
  })
})

describe('Function: tlsModeOf', () => {
  it('maps the resolved tls option to verify-full, require or disable', () => {
    expect(tlsModeOf(false)).toBe('disable')
    expect(tlsModeOf({ rejectUnauthorized: false })).toBe('require')
    expect(tlsModeOf({ rejectUnauthorized: true })).toBe('verify-full')
  })
})
