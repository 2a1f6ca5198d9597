import net from 'node:net'
import { Duplex } from 'node:stream'
import tls from 'node:tls'
import {
  connectFailed,
  connectSucceeded,
  publishRecover,
  startConnect,
  tlsModeOf,
} from '../events/publish.ts'
import type { ConnectEvent, EventTarget } from '../events/types.ts'
import type { ResolvedTls } from '../tls.ts'
import {
  endsSession,
  errorResponse,
  filterBeforeReady,
  type Handshake,
  isReadOnlySession,
  newHandshake,
  parameterStatus,
  readBackendMessage,
} from './handshake.ts'

/** One physical connection, as the liveness logic needs to see it. */
export interface TrackedSocket {
  socket: net.Socket
  /** The session finished its startup (first ReadyForQuery seen): statements may have been sent since. */
  ready: boolean
  lastReadAt: number
  lastWriteAt: number
  /**
   * When the oldest request still pending was written (or, before the session is ready, when it was opened):
   * the watchdog cuts a stall only when it began before every invocation that still has time (deadline.ts).
   */
  pendingSince: number
  /** Requests written since the session became ready: Sync and simple Query messages, one ReadyForQuery each. */
  requests: number
  /** ReadyForQuery messages read since the session became ready. `requests > readies`: a request is pending. */
  readies: number
  /**
   * The server ended the session (FATAL ErrorResponse, FIN or reset) while no request was pending on it. Every
   * statement written after that went into a session whose backend no longer reads: it never ran, so it may be
   * sent again (write or not). Errors of this socket carry `rdsNotSent` from then on.
   */
  goodbyeWhileIdle: boolean
  /** postgres.js ended it (Terminate sent), or we dropped it while idle: no statement was cut short. */
  expectedClose: boolean
  /** Its 'close' was emitted (our listener runs first, postgres.js's right after in the same emit). */
  closed: boolean
  /** The statement_timeout (ms, as sent) this session runs with; undefined when none was sent. */
  statementTimeout: string | undefined
  /** The startup exchange as rds reads it: the write filter, read-only parameters, the last SQLSTATE. */
  handshake: Handshake
  /**
   * Why the session ended, as the server or the socket said it: the SQLSTATE of a FATAL ErrorResponse
   * (57P01, 57P05…), else the Node code of the socket error (ECONNRESET). For the recovery events.
   */
  endCode: string | undefined
  /**
   * rds destroyed it on purpose: the idle probe got no answer (`freeze`) or the invocation deadline passed
   * (`deadline`). Its errors carry `rdsCut` with the reason, so recovery does not report it as a reset.
   */
  cut: 'freeze' | 'deadline' | undefined
}

/** A request is on the wire and its ReadyForQuery has not been read: the socket is in use, never idle. */
export const hasPending = (tracked: TrackedSocket): boolean =>
  !tracked.ready || tracked.requests > tracked.readies

/** Still opening, or written to since it last heard from the server. */
export const isStalled = (tracked: TrackedSocket): boolean =>
  !tracked.ready || tracked.lastWriteAt > tracked.lastReadAt

/** Destroyed, no longer writable, or the server's FIN was read. */
export const isDead = (tracked: TrackedSocket): boolean =>
  tracked.socket.destroyed || !tracked.socket.writable || tracked.socket.readableEnded

/** Yields (up to `turns` event-loop turns) until a dying socket shows it, then waits for its close. */
export async function closeDeadSockets(sockets: Set<TrackedSocket>, turns: number): Promise<void> {
  for (let turn = 0; turn < turns && sockets.size > 0; turn++) {
    await new Promise((resolve) => setImmediate(resolve))
    const dead = [...sockets].filter(isDead)
    if (dead.length) return void (await Promise.all(dead.map((tracked) => waitForClose(tracked))))
  }
}

/**
 * Destroys the socket and resolves once postgres.js has seen its 'close' (and returned the connection to its
 * pool). `idle`: dropped by us while nothing was asked, so nothing was cut short and no renewal is needed.
 */
export function waitForClose(tracked: TrackedSocket, idle = false): Promise<void> {
  return new Promise((resolve) => {
    if (tracked.closed) return resolve()
    if (idle) tracked.expectedClose = true
    tracked.socket.once('close', () => resolve())
    tracked.socket.destroy()
  })
}

/** Where the factory connects, and what the connect events name (host, port, database, user, pooler). */
export interface SocketTarget extends EventTarget {
  tls: ResolvedTls
  connectTimeoutMs: number
  /** Absolute time (performance.now()) by which the connection must be open. */
  deadline: () => number
  sockets: Set<TrackedSocket>
  /**
   * The postgres.js client `owner` (as passed to the factory) must be renewed before reuse: a session closed
   * without postgres.js ending it (a statement may have been cut short), or a startup failed (see lifecycle.ts).
   */
  onBroken?: (owner: unknown) => void
  /** The postgres.js client `owner` was replaced: it must open no session any more (see the factory). */
  replaced?: (owner: unknown) => boolean
  /**
   * The writer check: a session that reports itself read-only at startup (a standby behind a stale writer
   * endpoint) is refused before postgres.js may use it; its statement fails with READ_ONLY_SESSION, not sent.
   */
  writerCheck?: boolean
  /** A session finished its startup and was accepted (the shared reconnect backoff starts over). */
  onSessionReady?: () => void
}

const now = () => performance.now()
const sslRequest = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])

type PhaseError = Error & { code?: string; rdsConnectPhase?: boolean }

function phaseError(code: string, message: string): PhaseError {
  return Object.assign(new Error(message), { code, rdsConnectPhase: true })
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void, target: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout()
        reject(phaseError('CONNECT_TIMEOUT', `connect to ${target} timed out after ${Math.round(ms)} ms`))
      }, ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

function tcpConnect(host: string, port: number): { socket: net.Socket; connected: Promise<net.Socket> } {
  const socket = net.connect({ host, port, noDelay: true })
  const connected = new Promise<net.Socket>((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
  return { socket, connected }
}

async function upgrade(raw: net.Socket, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  raw.write(sslRequest)
  const answer = await new Promise<number>((resolve, reject) => {
    raw.once('data', (chunk: Buffer) => {
      raw.off('error', reject)
      resolve(chunk[0] ?? 0)
    })
    raw.once('error', reject)
  })
  if (answer !== 83) throw phaseError('TLS_NOT_SUPPORTED', 'the server declined the TLS request')
  const secure = tls.connect({ ...options, socket: raw })
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => {
      secure.off('error', reject)
      resolve()
    })
    secure.once('error', reject)
  })
  return secure
}

/**
 * A stand-in socket that fails once postgres.js has flushed its StartupMessage into it. postgres.js leaves a
 * connection slot stuck in its "connecting" queue when the socket factory rejects, so failures are reported
 * through a socket instead: its 'error' rejects the waiting statement and its 'close' returns the slot to the
 * pool. It fails only after that flush: postgres.js's close handler cancels a pending flush without clearing
 * it, and the slot's next connection would then never write (see handshake.ts).
 */
function failingSocket(error: PhaseError): Duplex {
  error.rdsConnectPhase = true
  const fail = () => setImmediate(() => stream.destroy(error))
  const stream = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback()
      fail()
    },
  })
  // postgres.js always writes at once; should it not, the error still comes a turn later.
  setImmediate(() => setImmediate(fail))
  return stream
}

const readyForQuery = 90 // 'Z'
const authentication = 82 // 'R'
const sync = 83 // 'S'
const simpleQuery = 81 // 'Q'

/**
 * The connect event of a session in its startup, settled once: by the first ReadyForQuery, an ErrorResponse
 * (53300, 28P01, 57P03…: the server refused the session), a refusal by rds (the writer check) or a close.
 */
interface Startup {
  ready(): void
  failed(error: unknown): void
}

/** Counts the requests in a buffer of whole frontend messages (postgres.js never splits one across writes). */
function countRequests(chunk: unknown): number {
  if (!Buffer.isBuffer(chunk)) return 0
  let count = 0
  for (let at = 0; at + 5 <= chunk.length; at += 1 + chunk.readUInt32BE(at + 1)) {
    const type = chunk[at]
    if (type === sync || type === simpleQuery) count++
  }
  return count
}

type NotSentError = PhaseError & { rdsNotSent?: boolean; rdsSocket?: boolean; rdsSqlstate?: string }

/** Messages whose body rds reads (kept whole when split across reads): they are few and small. */
const read = (type: number | undefined, ready: boolean) =>
  type === errorResponse || type === parameterStatus || (!ready && type === authentication)

/**
 * Frames the backend messages (type byte + length; bodies are skipped, never copied, except the few read in
 * handshake.ts) to count ReadyForQuery and to see an ErrorResponse that arrives while nothing was asked: the
 * server's goodbye. The returned function runs inside `emit('data')`, before postgres.js's listener sees the
 * chunk; it returns false when the chunk must not reach postgres.js (a session the writer check refused).
 *
 * The writer check costs no round trip: PostgreSQL 14+ reports `in_hot_standby` in its startup
 * ParameterStatus messages; a read-only session is refused at its first ReadyForQuery, before postgres.js
 * sends anything on it.
 */
function backendReader(tracked: TrackedSocket, target: SocketTarget, goodbye: () => void, startup: Startup) {
  /** Bytes of the current message's body still to skip, and a message start split across reads. */
  let skip = 0
  let header: Buffer | undefined
  return (chunk: Buffer): boolean => {
    tracked.lastReadAt = now()
    let data = chunk
    if (header) {
      data = Buffer.concat([header, chunk])
      header = undefined
    }
    let at = Math.min(skip, data.length)
    skip -= at
    while (at < data.length) {
      if (data.length - at < 5) {
        header = Buffer.from(data.subarray(at))
        return true
      }
      const type = data[at]
      const end = at + 1 + data.readUInt32BE(at + 1)
      if (end > data.length && read(type, tracked.ready)) {
        header = Buffer.from(data.subarray(at))
        return true
      }
      if (read(type, tracked.ready)) readBackendMessage(data, at, end, tracked.handshake)
      if (type === readyForQuery) {
        if (tracked.ready) tracked.readies++
        else if (target.writerCheck && isReadOnlySession(tracked.handshake)) return refuseReadOnly(tracked)
        else {
          tracked.ready = true
          startup.ready()
          target.onSessionReady?.()
        }
      } else if (type === errorResponse && !tracked.ready && endedByServer(tracked)) {
        return refuseEndedSession(tracked, target)
      } else if (type === errorResponse) {
        serverError(tracked, startup)
        // Between requests the server only sends an error to say it is ending the session (57P01, 57P05…).
        goodbye()
      }
      if (end > data.length) {
        skip = end - data.length
        return true
      }
      at = end
    }
    return true
  }
}

/**
 * An ErrorResponse the socket lets through: during the startup, the server refused the session (53300, 28P01,
 * 57P03…: the connect event fails with its SQLSTATE); once ready, a FATAL names why the session ends, and an
 * ordinary statement error says nothing about that (it is forgotten, so a later close is not blamed on it).
 */
function serverError(tracked: TrackedSocket, startup: Startup) {
  const { handshake } = tracked
  if (!tracked.ready) {
    startup.failed(
      Object.assign(new Error('the server refused the session'), { code: handshake.lastSqlstate }),
    )
  } else if (endsSession(handshake)) tracked.endCode = handshake.lastSqlstate
  else handshake.lastSqlstate = undefined
}

/**
 * 57P01 / 57P02: the server is shutting down (or crashed) and ends every session, this new one included.
 * 08P01 once the authentication exchange began: the handshake broke (a restart mid-exchange, bytes of another
 * connection); 08P01 in answer to the StartupMessage itself is a pooler refusing a parameter, left as it is.
 */
const endedByServer = ({ handshake }: TrackedSocket) =>
  handshake.lastSqlstate === '57P01' ||
  handshake.lastSqlstate === '57P02' ||
  (handshake.lastSqlstate === '08P01' && handshake.authStarted)

/**
 * A FATAL during the startup reaches postgres.js as a plain server error, indistinguishable from one cut off
 * mid-statement (57P01) or from a pooler's refusal (08P01); reported as this socket's connect-phase failure
 * instead (`rdsAuthPhase` when the password exchange had begun), it is known as unsent.
 */
function refuseEndedSession(tracked: TrackedSocket, target: SocketTarget): false {
  const sqlstate = tracked.handshake.lastSqlstate as string
  const error = phaseError(
    sqlstate,
    `the server at ${target.host}:${target.port} ended the session during its startup (SQLSTATE ${sqlstate})`,
  )
  tracked.socket.destroy(Object.assign(error, { rdsAuthPhase: tracked.handshake.authStarted }))
  return false
}

/** A standby (or a node still in recovery) answered the writer endpoint: nothing was sent on it, drop it. */
function refuseReadOnly(tracked: TrackedSocket): false {
  tracked.socket.destroy(
    phaseError(
      'READ_ONLY_SESSION',
      'the writer endpoint opened a read-only session (in_hot_standby = on): it names a standby',
    ),
  )
  return false
}

/**
 * postgres.js nulls its socket in its 'close' handler and only then rejects the statement in flight; a
 * transaction's own ROLLBACK, issued from that rejection, then writes to null from a setImmediate and
 * crashes the process (porsager/postgres#1208, #1154). So an unexpected close is reported as an 'error'
 * first, while the socket still exists, and 'close' is delivered after the writes that follow it. Errors
 * are tagged (rds's socket; not sent after a goodbye) before any listener sees them.
 */
function wrapEmit(
  socket: net.Socket,
  tracked: TrackedSocket,
  name: string,
  onData: (chunk: Buffer) => boolean,
) {
  // The server's FATAL (57P01 from a restart) is known to the frame reader even when postgres.js reports only
  // the close: the error carries it as `rdsSqlstate`. For the recovery events: why it closed (`rdsEndCode`, the
  // server's FATAL SQLSTATE or the socket's Node code), or that rds cut it (`rdsCut`).
  const closedError = (): NotSentError =>
    Object.assign(new Error(`connection to ${name} closed`), {
      code: 'CONNECTION_CLOSED',
      ...(tracked.handshake.lastSqlstate ? { rdsSqlstate: tracked.handshake.lastSqlstate } : {}),
      ...(tracked.endCode ? { rdsEndCode: tracked.endCode } : {}),
      ...(tracked.cut ? { rdsCut: tracked.cut } : {}),
    })
  let errored = false
  let requestsAtError = 0
  const emit = socket.emit as (this: net.Socket, ...a: unknown[]) => boolean
  socket.emit = function trackedEmit(this: net.Socket, event: string | symbol, first?: unknown) {
    if (event === 'data') {
      if (!onData(first as Buffer)) return true
    } else if (event === 'error') {
      errored = true
      requestsAtError = tracked.requests
      if (first && typeof first === 'object') {
        ;(first as NotSentError).rdsSocket = true
        if (tracked.goodbyeWhileIdle) (first as NotSentError).rdsNotSent = true
        const sqlstate = tracked.handshake.lastSqlstate
        if (sqlstate && !(first as NotSentError).rdsSqlstate) (first as NotSentError).rdsSqlstate = sqlstate
      }
    } else if (event === 'close' && !tracked.expectedClose) {
      // Never an 'error' nobody listens to (postgres.js removes its listeners once it handled a close): it
      // would end the process.
      if (!errored && this.listenerCount('error') > 0) this.emit('error', closedError())
      setImmediate(() =>
        setImmediate(() => {
          // Statements written after the error went nowhere; postgres.js would not reject them after a
          // close with hadError (they would hang), so they get an error of their own first.
          if (tracked.requests > requestsAtError && this.listenerCount('error') > 0)
            this.emit('error', closedError())
          emit.call(this, 'close', first)
        }),
      )
      return true
    }
    // Every chunk passes here: forwarded without copying the arguments into an array.
    // biome-ignore lint/complexity/noArguments: see above
    return Reflect.apply(emit, this, arguments)
  } as typeof socket.emit
}

/** Counts the requests written (and when the oldest pending one was), and sees postgres.js's own end. */
function wrapWriteAndEnd(socket: net.Socket, tracked: TrackedSocket) {
  const end = socket.end
  socket.end = function trackedEnd(this: net.Socket, ...args: unknown[]) {
    // postgres.js ends with a Terminate message; Node's own end() after the peer's FIN passes nothing.
    if (args[0] !== undefined && typeof args[0] !== 'function') tracked.expectedClose = true
    return (end as (...a: unknown[]) => net.Socket).apply(this, args)
  } as typeof socket.end
  const wrapWrite = () => {
    const write = socket.write
    socket.write = function trackedWrite(this: net.Socket, chunk: unknown) {
      if (!tracked.ready && Buffer.isBuffer(chunk)) {
        // Before the session is ready: only this socket's own startup and the answers the server asked for.
        tracked.lastWriteAt = now()
        // biome-ignore lint/complexity/noArguments: the handshake path only; the warm path forwards without a copy
        const args = Array.from(arguments)
        args[0] = filterBeforeReady(chunk, tracked.handshake)
        return Reflect.apply(write, this, args) as boolean
      }
      const at = now()
      tracked.lastWriteAt = at
      if (tracked.ready) {
        if (tracked.requests === tracked.readies) tracked.pendingSince = at
        tracked.requests += countRequests(chunk)
      }
      // biome-ignore lint/complexity/noArguments: forwarded as given (encoding, callback), without a copy
      return Reflect.apply(write, this, arguments) as boolean
    } as typeof socket.write
  }
  wrapWrite()
  // After the peer's FIN, Node replaces `write` with one that fails (EPIPE): count what goes into it too.
  socket.once('end', wrapWrite)
}

/**
 * The startup, settled once: `onReady` runs when the session is ready, `onFailed` when it failed first, listened
 * to or not; the connect event (when listened to) settles with it.
 */
function startupOf(event: ConnectEvent | undefined, onReady: () => void, onFailed: () => void): Startup {
  let open = event
  let settled = false
  return {
    ready() {
      settled = true
      onReady()
      if (!open) return
      connectSucceeded(open)
      open = undefined
    },
    failed(error) {
      if (settled) return
      settled = true
      onFailed()
      if (!open) return
      connectFailed(open, error)
      open = undefined
    },
  }
}

/** Makes one physical connection visible to the liveness checks and the watchdog. */
function track(
  socket: net.Socket,
  target: SocketTarget,
  statementTimeout: string | undefined,
  startup: Startup,
  broken: () => void,
): TrackedSocket {
  const tracked: TrackedSocket = {
    socket,
    ready: false,
    requests: 0,
    readies: 0,
    goodbyeWhileIdle: false,
    expectedClose: false,
    closed: false,
    lastReadAt: now(),
    lastWriteAt: 0,
    pendingSince: now(),
    statementTimeout,
    handshake: newHandshake(),
    endCode: undefined,
    cut: undefined,
  }
  const goodbye = () => {
    if (tracked.ready && tracked.requests === tracked.readies) tracked.goodbyeWhileIdle = true
  }
  // Registered before postgres.js's own listeners: the error is tagged before it rejects a statement.
  socket.on('end', goodbye)
  socket.on('error', (error: NotSentError) => {
    if (!tracked.ready) {
      error.rdsConnectPhase = true
      startup.failed(error)
    }
    tracked.endCode ??= error?.code
    goodbye()
  })
  socket.once('close', () => {
    startup.failed(Object.assign(new Error('closed during startup'), { code: 'CONNECTION_CLOSED' }))
    tracked.closed = true
    target.sockets.delete(tracked)
    if (tracked.expectedClose) return
    // Closed by the server while idle, before the liveness check could drop it: the same step as that drop.
    // (Stalled: written to and not answered, e.g. a Parse/Describe/Flush, which no ReadyForQuery counts.)
    if (!tracked.cut && !hasPending(tracked) && !isStalled(tracked)) {
      publishRecover(target, { reason: 'freeze', action: 'reconnect', attempt: 1, code: tracked.endCode })
    }
    broken()
  })
  wrapEmit(socket, tracked, `${target.host}:${target.port}`, backendReader(tracked, target, goodbye, startup))
  wrapWriteAndEnd(socket, tracked)
  target.sockets.add(tracked)
  return tracked
}

/**
 * postgres.js writes its StartupMessage as soon as it has the socket (flushed on the next turn). A connection
 * slot whose previous socket died with a flush pending never flushes again (handshake.ts): its startup would
 * wait for the deadline. Two turns without a write end that socket as a failed connect, so rds renews the
 * postgres.js client and connects again at once.
 */
function expectStartup(tracked: TrackedSocket, name: string) {
  setImmediate(() =>
    setImmediate(() => {
      if (tracked.lastWriteAt !== 0 || tracked.closed) return
      tracked.socket.destroy(
        phaseError(
          'CONNECTION_CLOSED',
          `the client sent no startup message to ${name} (a stale connection slot)`,
        ),
      )
    }),
  )
}

/**
 * The postgres.js `socket` option: opens TCP and TLS itself so that each step is bounded by the
 * invocation's remaining time, certificate errors keep their Node codes, and every physical connection
 * is visible to the liveness checks (idle time, stalled reads, destroy on deadline).
 */
export function createSocketFactory(target: SocketTarget) {
  const name = `${target.host}:${target.port}`
  const tlsMode = tlsModeOf(target.tls)
  /** Connection attempts since a session last became ready: the `attempt` of the connect event. */
  let attempts = 0
  const readied = () => {
    attempts = 0
  }
  /** A connect that failed before there was a session: its event fails, the client is renewed before reuse. */
  const fail = (event: ConnectEvent | undefined, error: PhaseError, broken: () => void) => {
    connectFailed(event, error)
    broken()
    return failingSocket(error) as unknown as net.Socket
  }
  /** `owner`: the postgres.js client that asks (a tag of the caller's), as `onBroken` and `replaced` name it. */
  return async function rdsSocket(
    options: { connection?: Record<string, unknown> },
    owner?: unknown,
  ): Promise<net.Socket> {
    const broken = () => target.onBroken?.(owner)
    // An ended postgres.js client still connects a slot for a statement queued behind its failed startup (its
    // close handler takes the next one): under exhaustion that session would take the one free slot, and
    // nobody ends it (the client's end() has resolved). Refused here, the statement fails as not sent
    // (CONNECTION_ENDED) and recovery sends it on the new client.
    if (target.replaced?.(owner)) {
      return failingSocket(
        phaseError('CONNECTION_ENDED', `the client was replaced before it connected to ${name}`),
      ) as unknown as net.Socket
    }
    const event = startConnect(target, ++attempts, tlsMode)
    const budget = Math.min(target.connectTimeoutMs, target.deadline() - now())
    if (budget <= 0) {
      return fail(
        event,
        phaseError('CONNECT_TIMEOUT', `no time left in the invocation to connect to ${name}`),
        broken,
      )
    }
    const { socket: raw, connected } = tcpConnect(target.host, target.port)
    try {
      const opened = withTimeout(
        connected.then((s): net.Socket | Promise<net.Socket> => (target.tls ? upgrade(s, target.tls) : s)),
        budget,
        () => raw.destroy(),
        name,
      )
      const socket = await opened
      const timeout = options.connection?.statement_timeout
      // postgres.js names host and port in its connection errors from these fields.
      Object.assign(socket, { host: target.host, port: target.port })
      const statementTimeout = timeout === undefined ? undefined : String(timeout)
      // A failed startup breaks its client at once, from inside the socket's 'data' or 'error' emit, before
      // postgres.js rejects the statement: the retry after a short 53300 or 28P01 wait must find it broken.
      // Left to the socket's 'close' (a few turns later), the retry would queue on the old client, whose slot
      // connects again once closed, and the late close would break the new client too: one more session for
      // its next statement, two for one invocation while the server is full.
      const startup = startupOf(event, readied, broken)
      const tracked = track(socket, target, statementTimeout, startup, broken)
      expectStartup(tracked, name)
      return socket
    } catch (error) {
      raw.destroy()
      return fail(event, error as PhaseError, broken)
    }
  }
}
