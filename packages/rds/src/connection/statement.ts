import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { Sql } from 'postgres'
import { queryFailed, querySucceeded, startQuery } from '../events/publish.ts'
import type { EventTarget, QueryEvent } from '../events/types.ts'
import type { ResolvedOptions } from '../options.ts'
import { isReadOnly } from '../read-only.ts'
import { type RecoveryContext, runStatement } from '../recovery.ts'
import type { Invocation, Invocations } from './invocation.ts'
import type { Lifecycle } from './lifecycle.ts'
import type { RestartRecovery } from './restart.ts'
import { guardedBegin } from './transaction.ts'

const now = () => performance.now()

export type Db = PostgresJsDatabase<Record<string, unknown>> & { $client: Sql }

type UnsafeArgs = Parameters<Sql['unsafe']>

/** What a guarded statement needs from its client. */
interface Guard {
  /** Who the statement goes to, for the query event. */
  scene: EventTarget
  /** The postgres.js client to send on (renewed first after a loss). */
  fresh(): Sql
  sent(): void
  settled(): void
  recover<T>(error: unknown, make: () => PromiseLike<T>, readOnly: boolean): Promise<T>
}

/** Settles the query event with what the caller receives after recovery. */
function settleWith<T>(event: QueryEvent, recovered: Promise<T>): Promise<T> {
  return recovered.then(
    (rows) => {
      querySucceeded(event, (rows as { count?: number } | undefined)?.count ?? undefined)
      return rows
    },
    (error: unknown) => {
      queryFailed(event, error)
      throw error
    },
  )
}

/** drizzle runs every statement through `client.unsafe(...)` (awaited, or `.values()` then awaited). */
class GuardedQuery<T> implements PromiseLike<T> {
  #mode: 'objects' | 'values' = 'objects'
  readonly #guard: Guard
  readonly #args: UnsafeArgs
  constructor(guard: Guard, args: UnsafeArgs) {
    this.#guard = guard
    this.#args = args
  }
  values(): this {
    this.#mode = 'values'
    return this
  }
  #make(): Promise<T> {
    const query = this.#guard.fresh().unsafe(...this.#args)
    return (this.#mode === 'values' ? query.values() : query) as unknown as Promise<T>
  }
  // biome-ignore lint/suspicious/noThenProperty: drizzle awaits what client.unsafe() returns
  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    const guard = this.#guard
    guard.sent()
    // Undefined (nothing built) when nobody listens to the query channel.
    const event = startQuery(guard.scene, this.#args[0])
    // Happy path: one `then` straight on the postgres.js query (a Promise) hands its rows to the awaiting
    // caller, with no wrapper promise in between. Recovery (and the read-only check) only once it failed.
    return this.#make().then(
      (rows) => {
        guard.settled()
        if (event) querySucceeded(event, (rows as { count?: number }).count ?? undefined)
        return (onfulfilled ? onfulfilled(rows) : rows) as A
      },
      (error: unknown) => {
        const recovered = guard.recover(error, () => this.#make(), isReadOnly(this.#args[0]))
        // The event settles once the retries are over: its span covers them.
        return (event ? settleWith(event, recovered) : recovered)
          .finally(guard.settled)
          .then(onfulfilled, onrejected)
      },
    )
  }
}

/**
 * What drizzle talks to: every statement guarded (recovered, re-run when that is safe), within the budget of
 * the invocation it runs for. Also counts the statements in flight and when the client was last used, for the
 * idle probe (liveness.ts).
 *
 * A statement refused with 25006 (a read-only session on the writer endpoint) was never applied: recovery.ts
 * re-runs it once on a new session (restart.ts renews the client). Each guarded statement is one `query` event (node:diagnostics_channel), settled after its
 * retries; the idle probe (liveness.ts) bypasses the guard and is not one. `db.transaction()` is guarded until
 * its callback starts (transaction.ts).
 */
export function createStatements(
  options: ResolvedOptions,
  lifecycle: Lifecycle,
  invocations: Invocations,
  restart: RestartRecovery,
) {
  /** drizzle statements between `unsafe()` and their answer (including the time before postgres.js writes them). */
  let inFlight = 0
  let lastUsedAt = now()
  const scene = { ...lifecycle.identity, pooler: options.pooler }

  /** The recovery of one invocation's statements: its deadline, its timed-out flag, its request's credentials. */
  function recoveryFor(invocation: Invocation | undefined): RecoveryContext {
    if (invocation?.recovery) return invocation.recovery
    const deadline = () =>
      invocation && Number.isFinite(invocation.deadline)
        ? invocation.deadline
        : now() + lifecycle.fallbackBudgetMs
    const recovery: RecoveryContext = {
      scene,
      settle: lifecycle.afterLoss,
      deadline,
      generation: () => lifecycle.generation,
      reconnect: (failedOn, reason, code) => restart.reconnect(failedOn, deadline(), reason, code),
      ended: () => lifecycle.ended,
      timedOut: () => invocation?.timedOut ?? false,
      refreshCredentials: () => invocation?.refresh() ?? Promise.resolve(),
      backoffBase: options.backoffBase,
      backoffCap: options.backoffCap,
      retryReadOnly: options.retryReadOnly,
    }
    if (invocation) invocation.recovery = recovery
    return recovery
  }

  const guard: Guard = {
    scene,
    fresh: () => lifecycle.fresh(),
    sent: () => {
      inFlight++
    },
    settled: () => {
      inFlight--
      lastUsedAt = now()
    },
    // Runs in the failed statement's async context: it finds the statement's own invocation.
    recover: (error, make, readOnly) =>
      runStatement(recoveryFor(invocations.current()), make, readOnly, error),
  }

  const unsafe = (...args: Parameters<Sql['unsafe']>) => new GuardedQuery(guard, args)
  const begin = guardedBegin({
    fresh: guard.fresh,
    renewIfBroken: () => void lifecycle.fresh(),
    recovery: () => recoveryFor(invocations.current()),
    sent: guard.sent,
    settled: guard.settled,
  })
  /** `unsafe` and `begin` guarded, everything else (options, parsers…) on the current postgres.js client. */
  const guarded = new Proxy(lifecycle.sql(), {
    get: (_target, property) => {
      if (property === 'unsafe') return unsafe
      if (property === 'begin') return begin
      const sql = lifecycle.sql()
      return Reflect.get(sql, property, sql)
    },
  })
  const db = drizzle(guarded, {
    ...(options.schema ? { schema: options.schema } : {}),
    ...(options.drizzle as object),
  }) as unknown as Db
  db.$client = lifecycle.current

  return {
    db,
    /** The guarded `unsafe` of this client: where reads a reader could not serve run instead (topology.ts). */
    unsafe,
    recoveryFor,
    inFlight: () => inFlight,
    lastUsedAt: () => lastUsedAt,
    touch(at: number) {
      lastUsedAt = at
    },
  }
}

export type Statements = ReturnType<typeof createStatements>
