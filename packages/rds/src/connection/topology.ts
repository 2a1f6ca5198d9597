import { withReplicas } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import type { Sql } from 'postgres'
import { classify, failedBeforeSend, isConnectionLoss, sqlstateOf } from '../classify.ts'
import type { ResolvedOptions } from '../options.ts'
import { isReadOnly } from '../read-only.ts'
import type { Invocations } from './invocation.ts'
import type { ReaderEndpoint } from './reader-endpoint.ts'
import type { Db, Statements } from './statement.ts'

const now = () => performance.now()

type UnsafeArgs = Parameters<Sql['unsafe']>
type Mode = 'objects' | 'values'

/** What `context.db` is: drizzle, `$client` the writer's Sql, `$primary` the writer's drizzle. */
export type TopologyDb = Db & { $primary: Db }

/**
 * Statements a server refused without applying them, where the writer will serve them: 25006 (a read-only
 * transaction: something that writes), 40001 on a standby (cancelled by a conflict with recovery).
 */
const refusedOnReader = new Set(['25006', '40001'])

/** What a read that failed on the reader becomes: re-run on the writer (marking the reader down or not), or thrown. */
type Verdict = 'writer' | 'writer, reader down' | 'throw'

function verdictOn(error: unknown, options: ResolvedOptions, timedOut: boolean, deadline: number): Verdict {
  const sqlstate = sqlstateOf(error)
  const beforeSend = failedBeforeSend(error)
  const lost = beforeSend || isConnectionLoss(error)
  if (timedOut || now() >= deadline || sqlstate === '57014') return 'throw'
  if (beforeSend) return 'writer, reader down'
  // Cut off mid-flight: a read may go again, unless the user said their selects have side effects.
  if (lost) return options.retryReadOnly ? 'writer, reader down' : 'throw'
  if (sqlstate && refusedOnReader.has(sqlstate)) return 'writer'
  return 'throw'
}

/** drizzle runs every statement through `client.unsafe(...)`: a read on the reader, on the writer if it must. */
class ReaderQuery<T> implements PromiseLike<T> {
  #mode: Mode = 'objects'
  readonly #args: UnsafeArgs
  readonly #route: Route
  constructor(route: Route, args: UnsafeArgs) {
    this.#route = route
    this.#args = args
  }
  values(): this {
    this.#mode = 'values'
    return this
  }
  // biome-ignore lint/suspicious/noThenProperty: drizzle awaits what client.unsafe() returns
  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#route.read<T>(this.#args, this.#mode).then(onfulfilled, onrejected)
  }
}

interface Route {
  read<T>(args: UnsafeArgs, mode: Mode): Promise<T>
}

function send<T>(query: { values(): unknown } & PromiseLike<unknown>, mode: Mode): Promise<T> {
  return Promise.resolve((mode === 'values' ? query.values() : query) as PromiseLike<T>)
}

/**
 * Where each statement of the reader's drizzle instance runs. Only reads reach the reader (a statement that writes
 * or locks goes to the writer whatever drizzle built it from, e.g. `db.with(cte).update(…)`), and only while it
 * is not cooling down. A read the reader could not serve (refused, reset, 57P03 while it restarts, a session cut
 * off mid-read) runs again on the writer's guarded path, inside the same invocation's budget.
 */
function createRoute(
  options: ResolvedOptions,
  reader: ReaderEndpoint,
  writer: Statements,
  invocations: Invocations,
): Route & { unsafe(...args: UnsafeArgs): PromiseLike<unknown> } {
  const scene = { ...reader.identity, pooler: options.pooler }
  const onWriter = <T>(args: UnsafeArgs, mode: Mode) =>
    send<T>(writer.unsafe(...args) as unknown as { values(): unknown } & PromiseLike<unknown>, mode)

  async function fallBack<T>(error: unknown, args: UnsafeArgs, mode: Mode): Promise<T> {
    const invocation = invocations.current()
    const deadline = invocation?.deadline ?? Number.POSITIVE_INFINITY
    const verdict = verdictOn(error, options, invocation?.timedOut ?? false, deadline)
    if (verdict === 'throw') throw classify(error, scene) ?? error
    if (verdict === 'writer, reader down') reader.failed(error)
    return onWriter<T>(args, mode)
  }

  const route = {
    read<T>(args: UnsafeArgs, mode: Mode): Promise<T> {
      const query = reader.sqlForRead().unsafe(...args)
      return send<T>(query, mode).then(
        (rows) => {
          reader.settled(true)
          return rows
        },
        (error: unknown) => {
          reader.settled(false)
          return fallBack<T>(error, args, mode)
        },
      )
    },
    unsafe(...args: UnsafeArgs): PromiseLike<unknown> {
      if (!reader.available() || typeof args[0] !== 'string' || !isReadOnly(args[0])) {
        return writer.unsafe(...args)
      }
      return new ReaderQuery(route, args)
    },
  }
  return route
}

/**
 * `context.db`: the writer's drizzle instance, or with a reader drizzle's `withReplicas` over both (selects and
 * relational queries on the reader; writes, `execute` and transactions on the writer). `$primary` is the writer's
 * instance either way, so read-your-writes code needs no change when a reader is added.
 */
export function createTopology(
  options: ResolvedOptions,
  writer: Statements,
  reader: ReaderEndpoint | undefined,
  invocations: Invocations,
): TopologyDb {
  if (!reader) return Object.assign(writer.db, { $primary: writer.db })
  const route = createRoute(options, reader, writer, invocations)
  const client = new Proxy(reader.sql(), {
    get: (_target, property) => {
      if (property === 'unsafe') return route.unsafe
      const sql = reader.sql()
      return Reflect.get(sql, property, sql)
    },
  })
  const replica = drizzle(client, {
    ...(options.schema ? { schema: options.schema } : {}),
    ...(options.drizzle as object),
  }) as unknown as Db
  return withReplicas(writer.db as never, [replica as never]) as unknown as TopologyDb
}
