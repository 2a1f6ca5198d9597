import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import postgres, { type Sql } from 'postgres'
import type { ErrorScene } from './classify.ts'
import { iamPasswordFunction } from './iam.ts'
import type { ResolvedOptions } from './options.ts'
import { isReadOnly } from './read-only.ts'
import { type RecoveryContext, runStatement } from './recovery.ts'
import { createSocketFactory, hasPending, type TrackedSocket } from './socket.ts'
import { type ResolvedTls, resolveTls } from './tls.ts'

const now = () => performance.now()
/**
 * Invocations that follow the previous begin or finish closer than this (a benchmark loop, a burst of
 * concurrent invocations) skip the event-loop turns in begin(): a server close landing inside such a gap
 * is as much a race with the statement as one landing just after it was written. Lambda's own round trip to
 * the Runtime API between two invocations is far longer.
 */
const backToBackMs = 0.05
/** Timers fire up to a few ms late; a deadline this close is the one the watchdog is armed for. */
const watchdogSlackMs = 60

type PgOptions = postgres.Options<Record<string, postgres.PostgresType>>
const noop = () => {}
const noneDead: TrackedSocket[] = []

/** The fields that decide which server session a client opens; a change means a new client. */
export interface Identity {
  host: string
  port: number
  database: string
  user: string
}

export interface ClientInput {
  identity: Identity
  /** Static password (config or internalData); ignored with iamAuth or a password function in config. */
  password: string | undefined
}

type Db = PostgresJsDatabase<Record<string, unknown>> & { $client: Sql }

export interface RdsClient {
  readonly identity: Identity
  readonly sql: Sql
  readonly db: Db
  readonly sockets: Set<TrackedSocket>
  /** Replaces the password the next physical connection authenticates with. */
  setPassword(password: string | undefined): void
  /**
   * Per-invocation preparation: deadline, statement timeout, liveness. Returns undefined when a warm client
   * needed no yield and no round trip, else a promise (rejecting with RdsError when it cannot connect).
   */
  begin(remainingMs: number | undefined, refresh: () => Promise<void>): Promise<void> | undefined
  finish(): void
  end(): Promise<void>
  readonly ended: boolean
  /** The current invocation's deadline passed and stalled sockets were destroyed. */
  readonly timedOut: boolean
}

/** Rounds the budget down to a coarse step so that a warm connection rarely needs a new value. */
export function statementTimeoutBucket(ms: number): number {
  const step = ms > 60_000 ? 10_000 : ms > 10_000 ? 1_000 : 100
  return Math.max(step, Math.floor(ms / step) * step)
}

export function identityOf(
  config: ResolvedOptions['config'],
  env: NodeJS.ProcessEnv = process.env,
): Identity {
  const host = String(config.host ?? env.PGHOST ?? 'localhost')
  const user = String(config.username ?? config.user ?? env.PGUSER ?? '')
  return {
    host,
    port: Number(config.port ?? env.PGPORT ?? 5432),
    user,
    database: String(config.database ?? config.db ?? env.PGDATABASE ?? user),
  }
}

/** Resolves once postgres.js has seen the socket's 'close' (and returned the connection to its pool). */
function waitForClose(tracked: TrackedSocket, idle = false): Promise<void> {
  return new Promise((resolve) => {
    if (tracked.closed) return resolve()
    // Dropped by us while nothing was asked: nothing was cut short, no need to renew the client.
    if (idle) tracked.expectedClose = true
    tracked.socket.once('close', () => resolve())
    tracked.socket.destroy()
  })
}

/**
 * Builds (without connecting) one postgres.js client and its drizzle instance. Connections are opened by
 * our socket factory (TLS, deadlines, tracking) and authenticate through a password function, so a new
 * password or IAM token reaches the next physical connection without rebuilding anything.
 */
export function createClient(options: ResolvedOptions, input: ClientInput): RdsClient {
  const { identity } = input
  const { config } = options
  const sockets = new Set<TrackedSocket>()
  let password = input.password
  let deadline = Number.POSITIVE_INFINITY
  /** Invocations between begin() and finish(): more than one on Lambda Managed Instances. */
  let active = 0
  /** A session closed under postgres.js (reset, server FATAL, destroyed on deadline): renew before reuse. */
  let tainted = false
  let timedOut = false
  let watchdog: NodeJS.Timeout | undefined
  /** The performance.now() time the watchdog is armed for. */
  let watchdogAt = Number.POSITIVE_INFINITY
  let lastUsedAt = now()
  /** The last begin() or finish() of any invocation. */
  let lastEventAt = now()
  /** drizzle statements between `unsafe()` and their answer (including the time before postgres.js writes them). */
  let inFlight = 0
  let ended = false
  let refresh: () => Promise<void> = async () => {}
  const fallbackBudgetMs = (Number(config.connect_timeout) || 20) * 1000

  const tls: ResolvedTls = resolveTls(options.tls, identity.host, { warn: (m) => options.logger.warn(m) })
  const passwordFn =
    typeof config.password === 'function'
      ? config.password
      : options.iamAuth
        ? iamPasswordFunction(options.iamAuth, identity)
        : () => password ?? ''

  const {
    host: _h,
    hostname: _hn,
    port: _p,
    user: _u,
    username: _un,
    database: _d,
    db: _db,
    password: _pw,
    pass: _pass,
    ssl: _ssl,
    socket: _socket,
    path: _path,
    ...rest
  } = config as unknown as Record<string, unknown>

  const socket = createSocketFactory({
    host: identity.host,
    port: identity.port,
    tls,
    connectTimeoutMs: fallbackBudgetMs,
    deadline: () => (Number.isFinite(deadline) ? deadline : now() + fallbackBudgetMs),
    sockets,
    onUnexpectedClose: () => {
      tainted = true
    },
  })
  const connect = () =>
    postgres({
      ...(rest as PgOptions),
      host: identity.host,
      port: identity.port,
      user: identity.user,
      database: identity.database,
      password: passwordFn as () => Promise<string>,
      ssl: false,
      connection: {
        application_name: process.env.AWS_LAMBDA_FUNCTION_NAME ?? '@rdskit/rds',
        ...(config.connection as Record<string, string> | undefined),
      },
      socket,
    } as PgOptions)
  let sql = connect()

  /**
   * postgres.js keeps the statement and error of a connection that died under a statement, and the slot's
   * next handshake misreads them: a 28P01 or 53300 there turns into an endless reconnect loop, and a FATAL
   * like 57P01 rejects the next session's first statement. So after such a loss the whole postgres.js
   * client is replaced (drizzle and `$client` reach it through proxies); the old one is ended.
   */
  function renew() {
    tainted = false
    const old = sql
    sql = connect()
    Object.assign(sql.options.parsers, old.options.parsers)
    Object.assign(sql.options.serializers, old.options.serializers)
    Object.assign(sql.options.connection, old.options.connection)
    old.end({ timeout: 5 }).catch(noop)
  }

  const scene: ErrorScene = { ...identity, pooler: options.pooler }
  const recovery: RecoveryContext = {
    scene,
    settle: async () => {
      await closeDeadSockets(20)
      renew()
    },
    deadline: () => (Number.isFinite(deadline) ? deadline : now() + fallbackBudgetMs),
    timedOut: () => timedOut,
    refreshCredentials: () => refresh(),
    backoffBase: options.backoffBase,
    backoffCap: options.backoffCap,
    retryReadOnly: options.retryReadOnly,
  }

  const settle = () => {
    inFlight--
    lastUsedAt = now()
  }

  /** drizzle runs every statement through `client.unsafe(...)` (awaited, or `.values()` then awaited). */
  class GuardedQuery<T> implements PromiseLike<T> {
    #mode: 'objects' | 'values' = 'objects'
    readonly #args: Parameters<Sql['unsafe']>
    constructor(args: Parameters<Sql['unsafe']>) {
      this.#args = args
    }
    values(): this {
      this.#mode = 'values'
      return this
    }
    #make(): Promise<T> {
      if (tainted) renew()
      const query = sql.unsafe(...this.#args)
      return (this.#mode === 'values' ? query.values() : query) as unknown as Promise<T>
    }
    // biome-ignore lint/suspicious/noThenProperty: drizzle awaits what client.unsafe() returns
    then<A = T, B = never>(
      onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
      onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
    ): Promise<A | B> {
      inFlight++
      // Happy path: one `then` straight on the postgres.js query (a Promise) hands its rows to the awaiting
      // caller, with no wrapper promise in between. Recovery (and the read-only check) only once it failed.
      return this.#make().then(
        (rows) => {
          settle()
          return (onfulfilled ? onfulfilled(rows) : rows) as A
        },
        (error: unknown) =>
          runStatement(recovery, () => this.#make(), isReadOnly(this.#args[0]), error)
            .finally(settle)
            .then(onfulfilled, onrejected),
      )
    }
  }

  const unsafe = (...args: Parameters<Sql['unsafe']>) => new GuardedQuery(args)
  /** What drizzle talks to: `unsafe` guarded, everything else (begin, options…) on the current client. */
  const guarded = new Proxy(sql, {
    get: (_target, property) => (property === 'unsafe' ? unsafe : Reflect.get(sql, property, sql)),
  })
  /** `db.$client`: the current postgres.js client, untouched. */
  const current = new Proxy(sql, {
    apply: (_target, thisArg, args) =>
      Reflect.apply(sql as unknown as (...a: unknown[]) => unknown, thisArg, args),
    get: (_target, property) => Reflect.get(sql, property, sql),
  })

  const db = drizzle(guarded, {
    ...(options.schema ? { schema: options.schema } : {}),
    ...(options.drizzle as object),
  }) as unknown as Db
  db.$client = current

  const isDead = (s: TrackedSocket) => s.socket.destroyed || !s.socket.writable || s.socket.readableEnded
  /**
   * Whether anything may be using the postgres.js client: a drizzle statement, or a request on the wire of
   * any socket (which also covers `$client` queries, which do not pass through our guard).
   */
  const busy = () => {
    if (inFlight > 0) return true
    for (const tracked of sockets) if (hasPending(tracked)) return true
    return false
  }

  /** Yields (up to `turns` event-loop turns) until the dying socket shows it, then waits for its close. */
  async function closeDeadSockets(turns: number) {
    for (let turn = 0; turn < turns && sockets.size > 0; turn++) {
      await new Promise((resolve) => setImmediate(resolve))
      const dead = [...sockets].filter(isDead)
      if (dead.length) return void (await Promise.all(dead.map((tracked) => waitForClose(tracked))))
    }
  }

  function stalledSockets(): TrackedSocket[] {
    return [...sockets].filter((s) => !s.ready || s.lastWriteAt > s.lastReadAt)
  }

  /**
   * One timer per client, armed for the earliest deadline it must catch and not touched by invocations whose
   * deadline is later: it wakes at the old deadline, finds a later one and sleeps again (once per function
   * timeout, not once per invocation). Re-arming a timer per invocation cost more around the statement's I/O
   * than the rest of begin() together.
   */
  function armWatchdog() {
    if (watchdog && watchdogAt <= deadline + watchdogSlackMs) return
    clearTimeout(watchdog)
    watchdogAt = deadline
    watchdog = setTimeout(onWatchdog, Math.max(0, deadline - now()))
    watchdog.unref()
  }

  function onWatchdog() {
    watchdog = undefined
    // Between invocations (or frozen past the last one's deadline): nothing to cut, nothing to re-arm.
    if (!Number.isFinite(deadline)) return
    // A later invocation moved the deadline: sleep until then.
    if (now() < deadline - watchdogSlackMs) return armWatchdog()
    timedOut = true
    for (const tracked of stalledSockets()) tracked.socket.destroy()
  }

  /** The value new sessions start with (a startup parameter: no round trip). */
  function statementTimeoutFor(remainingMs: number): string | undefined {
    if (options.pooler || options.statementTimeout === false) return undefined
    const value = String(
      typeof options.statementTimeout === 'number'
        ? options.statementTimeout
        : statementTimeoutBucket(remainingMs - 2 * options.timeoutMargin),
    )
    ;(sql.options.connection as Record<string, unknown>).statement_timeout = value
    return value
  }

  /**
   * A warm session keeps the value it started with; re-set it only when it would outlive this invocation's
   * client deadline. Pipelined in front of the handler's first statement: no extra round trip.
   */
  function tightenStatementTimeout(value: string, remainingMs: number) {
    if (config.max !== 1) return
    const limit =
      typeof options.statementTimeout === 'number' ? Number(value) : remainingMs - options.timeoutMargin
    for (const tracked of sockets) {
      if (tracked.ready && Number(tracked.statementTimeout ?? Number.POSITIVE_INFINITY) > limit) {
        tracked.statementTimeout = value
        sql
          .unsafe(`set statement_timeout = ${Number(value)}`)
          .execute()
          .catch(noop)
      }
    }
  }

  /** `select 1`; with a timeout, a ping that gets no answer destroys the socket so the retry reconnects. */
  async function ping(timeoutMs: number | undefined) {
    const sentAt = now()
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            // No answer at all: a peer that vanished without FIN or RST. Only sockets that were written to
            // since the ping and heard nothing back; another invocation's slow statement is not our business.
            for (const tracked of sockets) {
              if (hasPending(tracked) && tracked.lastReadAt < sentAt) tracked.socket.destroy()
            }
          }, timeoutMs)
    try {
      await runStatement(
        recovery,
        () => {
          if (tainted) renew()
          return sql.unsafe('select 1')
        },
        true,
      )
    } finally {
      clearTimeout(timer)
      lastUsedAt = now()
    }
  }

  /** Per socket: an idle one whose server said goodbye (FATAL 57P01, 57P05…, FIN) or that died. */
  const deadSockets = () => {
    // Runs on every warm invocation: no array unless something is dead.
    let dead = noneDead
    for (const s of sockets) {
      if (!isDead(s) && !(s.goodbyeWhileIdle && !hasPending(s))) continue
      if (dead === noneDead) dead = []
      dead.push(s)
    }
    return dead
  }
  /** One with a request on the wire is in use (drizzle, `$client`, another invocation): never dropped here. */
  const dropSockets = (dead: TrackedSocket[]) =>
    Promise.all(dead.map((tracked) => waitForClose(tracked, !hasPending(tracked))))

  /**
   * We may be past this loop iteration's poll phase, so yield twice (~3 µs): the next poll reads a close
   * waiting in the kernel and its close callbacks run. Writes postgres.js had queued before us are flushed too.
   */
  async function settleSockets() {
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    const dead = deadSockets()
    if (dead.length) await dropSockets(dead)
  }

  /** The rest of begin() once the sockets are settled: undefined when no round trip is needed. */
  function prepare(started: number, remainingMs: number | undefined): Promise<void> | undefined {
    if (tainted && !busy()) renew()
    const finite = remainingMs !== undefined && Number.isFinite(remainingMs)
    const timeout = finite ? statementTimeoutFor(remainingMs) : undefined
    if (sockets.size > 0 && timeout !== undefined) tightenStatementTimeout(timeout, remainingMs as number)
    if (sockets.size === 0) return ping(undefined)
    if (!busy() && started - lastUsedAt >= options.pingAfterIdle) {
      return ping(Math.min(options.pingTimeout, Math.max(1, recovery.deadline() - now())))
    }
    return undefined
  }

  return {
    identity,
    get sql() {
      return current
    },
    db,
    sockets,
    get ended() {
      return ended
    },
    get timedOut() {
      return timedOut
    },
    setPassword(value) {
      password = value
    },
    begin(remainingMs, refreshCredentials) {
      refresh = refreshCredentials
      timedOut = false
      const started = now()
      const finite = remainingMs !== undefined && Number.isFinite(remainingMs)
      if (finite) {
        // Concurrent invocations share the client: its deadline is the latest of theirs (each statement is
        // still cut by its session's statement_timeout).
        const mine = started + remainingMs - options.timeoutMargin
        deadline = active > 0 && Number.isFinite(deadline) ? Math.max(deadline, mine) : mine
        armWatchdog()
      } else if (active === 0) {
        deadline = Number.POSITIVE_INFINITY
      }
      active++
      const quietFor = started - lastEventAt
      lastEventAt = started
      if (sockets.size > 0) {
        // A close the server sent since the last statement (a freeze, or just now) may be waiting in the
        // kernel: see settleSockets. Back-to-back invocations need no yield, and then no promise either.
        if (quietFor >= backToBackMs) return settleSockets().then(() => prepare(started, remainingMs))
        const dead = deadSockets()
        if (dead.length) return dropSockets(dead).then(() => prepare(started, remainingMs))
      }
      return prepare(started, remainingMs)
    },
    finish() {
      const at = now()
      lastEventAt = at
      active = Math.max(0, active - 1)
      if (active > 0) return
      deadline = Number.POSITIVE_INFINITY
      lastUsedAt = at
    },
    async end() {
      if (ended) return
      ended = true
      clearTimeout(watchdog)
      await sql.end({ timeout: 5 })
    },
  }
}
