import postgres, { type Sql } from 'postgres'
import { iamPasswordFunction } from '../iam.ts'
import type { ResolvedOptions } from '../options.ts'
import { resolveTls } from '../tls.ts'
import { closeDeadSockets, createSocketFactory, type TrackedSocket } from './socket.ts'

type PgOptions = postgres.Options<Record<string, postgres.PostgresType>>
const noop = () => {}
const now = () => performance.now()

/** The fields that decide which server session a client opens; a change means a new client. */
export interface Identity {
  host: string
  port: number
  database: string
  user: string
}

export interface LifecycleInput {
  identity: Identity
  /** Static password (config or internalData); ignored with iamAuth or a password function in config. */
  password: string | undefined
  /**
   * `writer` (default): sessions that report themselves read-only are refused (the writer check, socket.ts).
   * `reader`: a reader endpoint's sessions are read-only by design.
   */
  role?: 'writer' | 'reader'
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

/** postgres.js options of rds's own making: the identity, the password function, TLS through our sockets. */
function postgresOptions(
  options: ResolvedOptions,
  identity: Identity,
  password: () => unknown,
  socket: (options: { connection?: Record<string, unknown> }) => Promise<unknown>,
): PgOptions {
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
  } = options.config as unknown as Record<string, unknown>
  return {
    ...(rest as PgOptions),
    host: identity.host,
    port: identity.port,
    user: identity.user,
    database: identity.database,
    password: password as () => Promise<string>,
    ssl: false,
    // postgres.js waits before reconnecting a pool slot, up to 20 s after repeated failures, unbounded by any
    // deadline: after a restart, statements queued behind that wait hung past the invocation's budget. rds
    // backs off itself (restart.ts), within the budget, shared by the statements waiting on it.
    backoff: () => 0,
    connection: {
      application_name: process.env.AWS_LAMBDA_FUNCTION_NAME ?? '@rdskit/rds',
      ...(options.config.connection as Record<string, string> | undefined),
    },
    socket,
  } as PgOptions
}

/** config.password when a function, an IAM token per connection, else the password of the moment. */
function passwordFunction(options: ResolvedOptions, identity: Identity, current: () => string | undefined) {
  if (typeof options.config.password === 'function') return options.config.password
  if (options.iamAuth) return iamPasswordFunction(options.iamAuth, identity)
  return () => current() ?? ''
}

/** A stand-in for the postgres.js client of the moment: calls and property reads go to `get()`. */
function following(get: () => Sql): Sql {
  return new Proxy(get(), {
    apply: (_target, thisArg, args) =>
      Reflect.apply(get() as unknown as (...a: unknown[]) => unknown, thisArg, args),
    get: (_target, property) => {
      const sql = get()
      return Reflect.get(sql, property, sql)
    },
  })
}

/**
 * The postgres.js instance of one client: opened lazily (the first statement connects), renewed after a
 * session was lost under it, ended once. Connections are opened by our socket factory (TLS, deadlines,
 * tracking) and authenticate through a password function, so a new password or IAM token reaches the next
 * physical connection without rebuilding anything.
 *
 * A connection that failed during its startup is never retried on the same postgres.js client: its connection
 * object keeps state of the dead socket (see handshake.ts). Server-restart recovery (restart.ts) renews it,
 * once for all the statements waiting, after a jittered backoff. The writer check refuses read-only sessions
 * in the socket (socket.ts); readers are a second lifecycle (`role: 'reader'`) on the reader endpoint.
 */
export function createLifecycle(
  options: ResolvedOptions,
  input: LifecycleInput,
  sockets: Set<TrackedSocket>,
  /** Absolute time by which a new connection must be open (the running invocations' latest deadline). */
  connectDeadline: () => number,
) {
  const { identity } = input
  let password = input.password
  /** A session closed under postgres.js (reset, server FATAL, destroyed on deadline): renew before reuse. */
  let tainted = false
  /** Counts renewals: a statement that failed on an older postgres.js client needs no renewal of its own. */
  let generation = 0
  /** Called when a session finished its startup (the reconnect backoff starts over). */
  let onSessionReady = noop
  let ended = false
  const fallbackBudgetMs = (Number(options.config.connect_timeout) || 20) * 1000
  const passwordFn = passwordFunction(options, identity, () => password)
  const socket = createSocketFactory({
    ...identity,
    pooler: options.pooler,
    tls: resolveTls(options.tls, identity.host, { warn: (m) => options.logger.warn(m) }),
    connectTimeoutMs: fallbackBudgetMs,
    deadline: () => {
      const at = connectDeadline()
      return Number.isFinite(at) ? at : now() + fallbackBudgetMs
    },
    sockets,
    // Only the client of this moment: a socket of a replaced client that fails or closes late (its startup
    // refused just before the renewal) says nothing about the new client's sessions, and tainting it would
    // open one more session for its next statement.
    onBroken: (owner) => {
      if (owner === generation) tainted = true
    },
    replaced: (owner) => owner !== generation,
    writerCheck: input.role !== 'reader',
    onSessionReady: () => onSessionReady(),
  })
  /** Each postgres.js client's sockets name it (its generation) to `onBroken` and `replaced`. */
  const open = () => {
    const owner = generation
    return postgres(postgresOptions(options, identity, passwordFn, (o) => socket(o, owner)))
  }
  let sql = open()

  /**
   * postgres.js keeps the statement and error of a connection that died under a statement, and the slot's
   * next handshake misreads them: a 28P01 or 53300 there turns into an endless reconnect loop, and a FATAL
   * like 57P01 rejects the next session's first statement. So after such a loss the whole postgres.js
   * client is replaced (drizzle and `$client` reach it through proxies); the old one is ended. Parsers,
   * serializers and connection parameters (statement_timeout) carry over: they are ours, not the session's.
   */
  function renew() {
    tainted = false
    generation++
    const old = sql
    sql = open()
    Object.assign(sql.options.parsers, old.options.parsers)
    Object.assign(sql.options.serializers, old.options.serializers)
    Object.assign(sql.options.connection, old.options.connection)
    old.end({ timeout: 5 }).catch(noop)
  }

  /** `db.$client`: the current postgres.js client, untouched, across renewals. */
  const current = following(() => sql)

  return {
    identity,
    fallbackBudgetMs,
    /** The postgres.js instance of this moment (changes on renewal). */
    sql: () => sql,
    current,
    get tainted() {
      return tainted
    },
    get generation() {
      return generation
    },
    /** Tells `listener` each time a session finished its startup and was accepted. */
    onSessionReady(listener: () => void) {
      onSessionReady = listener
    },
    get ended() {
      return ended
    },
    renew,
    /** The client to send a statement on: renewed first when a session was lost under the old one. */
    fresh(): Sql {
      if (tainted) renew()
      return sql
    },
    /** After a session died under a statement: wait for its socket to close, then a clean client. */
    async afterLoss() {
      await closeDeadSockets(sockets, 20)
      renew()
    },
    setPassword(value: string | undefined) {
      password = value
    },
    async end() {
      if (ended) return
      ended = true
      await sql.end({ timeout: 5 })
    },
  }
}

export type Lifecycle = ReturnType<typeof createLifecycle>
