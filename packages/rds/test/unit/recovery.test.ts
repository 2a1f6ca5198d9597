import { afterEach, describe, expect, it, vi } from 'vitest'
import { RdsError } from '../../src/errors.ts'
import { type RecoveryContext, runStatement } from '../../src/recovery.ts'

const scene = { host: 'db.example', port: 5432, user: 'app', database: 'notes', pooler: false }
const failure = (code: string, extra: object = {}) =>
  Object.assign(new Error('English text is never read'), { code, ...extra })

/** A recovery context whose deadline, watchdog and side effects the test controls and counts. */
function context(overrides: Partial<RecoveryContext> = {}) {
  const calls = { settle: 0, refresh: 0, reconnect: 0 }
  const ctx: RecoveryContext = {
    scene,
    deadline: () => Number.POSITIVE_INFINITY,
    timedOut: () => false,
    settle: async () => {
      calls.settle++
    },
    refreshCredentials: async () => {
      calls.refresh++
    },
    generation: () => calls.reconnect,
    reconnect: async () => {
      calls.reconnect++
    },
    ended: () => false,
    backoffBase: 1,
    backoffCap: 2,
    retryReadOnly: true,
    ...overrides,
  }
  return { ctx, calls }
}

/** A statement that fails with each of `errors` in turn, then answers 'rows'. */
function statement(...errors: unknown[]) {
  let runs = 0
  const make = () => {
    const error = errors[runs++]
    return error === undefined ? Promise.resolve('rows') : Promise.reject(error)
  }
  return { make, runs: () => runs }
}

async function rejection(run: Promise<unknown>): Promise<RdsError & Error> {
  try {
    await run
  } catch (error) {
    return error as RdsError & Error
  }
  throw new Error('expected a failure')
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('runStatement', () => {
  it('returns the answer of a statement that succeeds, running it once', async () => {
    const { ctx, calls } = context()
    const s = statement()
    expect(await runStatement(ctx, s.make, false)).toBe('rows')
    expect(s.runs()).toBe(1)
    expect(calls).toEqual({ settle: 0, refresh: 0, reconnect: 0 })
  })

  it('hands back an RdsError and an application error unchanged, without a second run', async () => {
    const rds = new RdsError('CREDENTIALS_MISSING', 'no password')
    const unique = failure('23505')
    for (const error of [rds, unique]) {
      const s = statement(error)
      expect(await rejection(runStatement(context().ctx, s.make, true))).toBe(error)
      expect(s.runs()).toBe(1)
    }
  })

  it.each([
    ['53300', 'TOO_MANY_CONNECTIONS'],
    ['57P03', 'CONNECT_FAILED'],
    ['ECONNREFUSED', 'CONNECT_FAILED'],
    ['EHOSTUNREACH', 'CONNECT_FAILED'],
    ['ENETUNREACH', 'CONNECT_FAILED'],
    ['EAI_AGAIN', 'CONNECT_FAILED'],
  ])('backs off and connects again after %s before anything was sent', async (code) => {
    const { ctx, calls } = context()
    const s = statement(failure(code), failure(code))
    expect(await runStatement(ctx, s.make, false)).toBe('rows')
    expect(s.runs()).toBe(3)
    expect(calls.settle).toBe(0)
  })

  it('gives up on 53300 when the next backoff would end past the deadline: TOO_MANY_CONNECTIONS', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1)
    const started = performance.now()
    const { ctx } = context({ deadline: () => started + 5_000, backoffBase: 10_000, backoffCap: 10_000 })
    const s = statement(failure('53300'), failure('53300'))
    const error = await rejection(runStatement(ctx, s.make, false))
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: 'TOO_MANY_CONNECTIONS', retryable: true })
    expect(s.runs()).toBe(1)
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('waits on the shared reconnect after ECONNREFUSED; once it ends at the deadline: CONNECT_FAILED', async () => {
    let deadline = Number.POSITIVE_INFINITY
    const reasons: string[] = []
    const { ctx } = context({
      deadline: () => deadline,
      reconnect: async (_failedOn, reason) => {
        reasons.push(reason)
        deadline = 0
      },
    })
    const s = statement(failure('ECONNREFUSED'), failure('ECONNREFUSED'))
    const error = await rejection(runStatement(ctx, s.make, false))
    expect(error).toMatchObject({ code: 'CONNECT_FAILED', retryable: true })
    expect(reasons).toEqual(['restart'])
    expect(s.runs()).toBe(2)
  })

  it('reports the refusal (53300) rather than a timeout when the deadline cuts a later connect short', async () => {
    let deadline = Number.POSITIVE_INFINITY
    const { ctx } = context({ deadline: () => deadline })
    let runs = 0
    const make = () => {
      runs++
      if (runs === 2) deadline = 0
      return Promise.reject(
        runs === 1 ? failure('53300') : failure('ECONNREFUSED', { rdsConnectPhase: true }),
      )
    }
    const error = await rejection(runStatement(ctx, make, false))
    expect(error).toMatchObject({ code: 'TOO_MANY_CONNECTIONS', sqlstate: '53300' })
  })

  it('doubles the backoff after each refusal (full jitter at its upper bound here)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1)
    const { ctx } = context({ backoffBase: 20, backoffCap: 1_000 })
    const started = performance.now()
    const s = statement(failure('53300'), failure('53300'), failure('53300'))
    expect(await runStatement(ctx, s.make, false)).toBe('rows')
    // 20 + 40 + 80 ms: timers never fire early, so this lower bound holds on any machine.
    expect(performance.now() - started).toBeGreaterThanOrEqual(140 - 2)
  })

  it('throws a refusal that is neither retried nor a lost connection as it is, even for a read', async () => {
    const { ctx, calls } = context()
    const s = statement(failure('28000'))
    const error = await rejection(runStatement(ctx, s.make, true))
    expect(error).toMatchObject({ code: 'CONNECTION_REJECTED', sqlstate: '28000' })
    expect(s.runs()).toBe(1)
    expect(calls.settle).toBe(0)
  })

  it('refreshes the credential once on 28P01 and runs again; a second 28P01 is AUTH_FAILED', async () => {
    const { ctx, calls } = context()
    expect(await runStatement(ctx, statement(failure('28P01')).make, false)).toBe('rows')
    expect(calls.refresh).toBe(1)

    const again = context()
    const s = statement(failure('28P01'), failure('28P01'))
    const error = await rejection(runStatement(again.ctx, s.make, false))
    expect(error).toMatchObject({ code: 'AUTH_FAILED', sqlstate: '28P01', retryable: false })
    expect(again.calls.refresh).toBe(1)
    expect(s.runs()).toBe(2)
  })

  it('re-runs a read-only statement once after the connection dropped under it, on a settled client', async () => {
    const { ctx, calls } = context()
    const s = statement(failure('ECONNRESET'))
    expect(await runStatement(ctx, s.make, true)).toBe('rows')
    expect(s.runs()).toBe(2)
    expect(calls.settle).toBe(1)
  })

  it('a read-only statement dropped twice fails CONNECTION_LOST, retryable, saying it was re-run', async () => {
    const { ctx, calls } = context()
    const s = statement(failure('57P01'), failure('57P01'))
    const error = await rejection(runStatement(ctx, s.make, true))
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', sqlstate: '57P01', retryable: true })
    expect(error.hint).toMatch(/re-run once and the connection dropped again/)
    expect(error.message).toMatch(
      /^the connection to db\.example:5432 was lost \(57P01\)\. Hint: the read-only/,
    )
    expect(s.runs()).toBe(2)
    expect(calls.settle).toBe(2)
  })

  it.each([
    ['a write', false, true],
    ['a read with retryReadOnly: false', true, false],
  ])('never re-runs %s that may have reached the server', async (_name, readOnly, retryReadOnly) => {
    const { ctx, calls } = context({ retryReadOnly })
    const s = statement(failure('ECONNRESET'))
    const error = await rejection(runStatement(ctx, s.make, readOnly))
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: false })
    expect(error.sqlstate).toBeUndefined()
    expect(error.hint).toMatch(
      /may or may not have been applied, so it was not re-run: make the write idempotent/,
    )
    expect(error.message).not.toMatch(/Hint:.*Hint:/s)
    expect(s.runs()).toBe(1)
    expect(calls.settle).toBe(1)
  })

  it('runs any statement again after the shared reconnect when the socket died during the handshake', async () => {
    const { ctx, calls } = context()
    const lost = () => failure('ECONNRESET', { rdsConnectPhase: true })
    const s = statement(lost(), lost(), lost())
    expect(await runStatement(ctx, s.make, false)).toBe('rows')
    expect(calls.reconnect).toBe(3)
    expect(calls.settle).toBe(0)
    expect(s.runs()).toBe(4)
  })

  it('passes the client generation a handshake failed on, so one renewal serves every waiter', async () => {
    const failedOn: number[] = []
    let generation = 7
    const { ctx } = context({
      generation: () => generation,
      reconnect: async (on) => {
        failedOn.push(on)
        generation++
      },
    })
    const lost = () => failure('ECONNRESET', { rdsConnectPhase: true })
    expect(await runStatement(ctx, statement(lost(), lost()).make, false)).toBe('rows')
    expect(failedOn).toEqual([7, 8])
  })

  describe('at the deadline (or once the watchdog fired)', () => {
    const late = (overrides: Partial<RecoveryContext> = {}) => context({ deadline: () => 0, ...overrides })

    it('a connect cut short is CONNECT_TIMEOUT naming the host, retryable', async () => {
      const error = await rejection(runStatement(late().ctx, statement(failure('ECONNREFUSED')).make, false))
      expect(error).toMatchObject({ code: 'CONNECT_TIMEOUT', retryable: true })
      expect(error.message).toMatch(/^connecting to db\.example:5432 did not finish within the remaining/)
      expect(error.hint).toMatch(/slow to accept/)
    })

    it('a statement cut short is TIMEOUT, and its client is settled first', async () => {
      const { ctx, calls } = late({ timedOut: () => true, deadline: () => Number.POSITIVE_INFINITY })
      const error = await rejection(runStatement(ctx, statement(failure('ECONNRESET')).make, true))
      expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true })
      expect(error.message).toMatch(/^the statement to db\.example:5432 did not finish before the invocation/)
      expect(error.hint).toMatch(/stopped answering/)
      expect(calls.settle).toBe(1)
    })

    it('a statement_timeout cancel (57014) stays what the server said', async () => {
      const error = await rejection(runStatement(late().ctx, statement(failure('57014')).make, true))
      expect(error).toMatchObject({ code: 'TIMEOUT', sqlstate: '57014' })
      expect(error.message).toMatch(/statement_timeout/)
    })

    it('an application error is handed back unchanged', async () => {
      const unique = failure('23505')
      expect(await rejection(runStatement(late().ctx, statement(unique).make, false))).toBe(unique)
    })
  })

  it('starts from firstError, without running the statement for it', async () => {
    const { ctx, calls } = context()
    const s = statement()
    expect(await runStatement(ctx, s.make, false, failure('28P01'))).toBe('rows')
    expect(calls.refresh).toBe(1)
    expect(s.runs()).toBe(1)
  })
})
