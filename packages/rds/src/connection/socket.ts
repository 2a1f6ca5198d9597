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
  /** A session closed without postgres.js ending it: a statement may have been cut short (see lifecycle.ts). */
  onUnexpectedClose?: () => void
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
 * A stand-in socket that fails on the next turn. postgres.js leaves a connection slot stuck in its
 * "connecting" queue when the socket factory rejects, so failures are reported through a socket instead:
 * its 'error' rejects the waiting statement and its 'close' returns the slot to the pool.
 */
function failingSocket(error: PhaseError): Duplex {
  error.rdsConnectPhase = true
  const stream = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback()
    },
  })
  setImmediate(() => stream.destroy(error))
  return stream
}

const readyForQuery = 90 // 'Z'
const errorResponse = 69 // 'E'
const sync = 83 // 'S'
const simpleQuery = 81 // 'Q'

/**
 * The `C` (SQLSTATE) and `V` (severity, never localised) fields of an ErrorResponse body, from the bytes at
 * hand (the fields come first; a body cut by the end of the chunk yields what it holds). Errors are rare:
 * only they pay for this.
 */
function errorFields(data: Buffer, from: number, to: number): { code?: string; severity?: string } {
  const fields: { code?: string; severity?: string } = {}
  let at = from
  while (at < to && data[at] !== 0) {
    const type = data[at]
    const end = data.indexOf(0, at + 1)
    if (end === -1 || end > to) break
    if (type === 67)
      fields.code = data.toString('latin1', at + 1, end) // 'C'
    else if (type === 86) fields.severity = data.toString('latin1', at + 1, end) // 'V'
    at = end + 1
  }
  return fields
}

/**
 * The connect event of a session in its startup, settled once: by the first ReadyForQuery, an ErrorResponse
 * (53300, 28P01, 57P03…: the server refused the session) or a close.
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

type NotSentError = PhaseError & { rdsNotSent?: boolean; rdsSocket?: boolean }

/**
 * Frames the backend messages (type byte + length; bodies are skipped, never copied) to count
 * ReadyForQuery and to see an ErrorResponse that arrives while nothing was asked: the server's goodbye.
 * The returned function runs inside `emit('data')`, before postgres.js's listener sees the chunk.
 *
 * Seam: the writer check reads ParameterStatus ('S': `in_hot_standby`, `default_transaction_read_only`)
 * here, as the session reports it at startup and on change, so a warm invocation costs no round trip.
 */
function backendReader(
  tracked: TrackedSocket,
  goodbye: () => void,
  startup: Startup,
): (chunk: Buffer) => void {
  /** Bytes of the current message's body still to skip, and a header split across reads. */
  let skip = 0
  let header: Buffer | undefined
  return (chunk) => {
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
        return
      }
      const type = data[at]
      const length = data.readUInt32BE(at + 1)
      const end = at + 1 + length
      if (type === readyForQuery) {
        if (tracked.ready) tracked.readies++
        else {
          tracked.ready = true
          startup.ready()
        }
      } else if (type === errorResponse) {
        const { code, severity } = errorFields(data, at + 5, Math.min(end, data.length))
        if (!tracked.ready) {
          startup.failed(Object.assign(new Error('the server refused the session'), { code }))
        } else if (severity === 'FATAL' || severity === 'PANIC') tracked.endCode = code
        // Between requests the server only sends an error to say it is ending the session (57P01, 57P05…).
        goodbye()
      }
      if (end > data.length) {
        skip = end - data.length
        return
      }
      at = end
    }
  }
}

/**
 * postgres.js nulls its socket in its 'close' handler and only then rejects the statement in flight; a
 * transaction's own ROLLBACK, issued from that rejection, then writes to null from a setImmediate and
 * crashes the process (porsager/postgres#1208, #1154). So an unexpected close is reported as an 'error'
 * first, while the socket still exists, and 'close' is delivered after the writes that follow it. Errors
 * are tagged (rds's socket; not sent after a goodbye) before any listener sees them.
 */
function wrapEmit(socket: net.Socket, tracked: TrackedSocket, name: string, onData: (chunk: Buffer) => void) {
  // Tagged for the recovery events: why it closed (the server's FATAL SQLSTATE), or that rds cut it.
  const closedError = (): NotSentError =>
    Object.assign(new Error(`connection to ${name} closed`), {
      code: 'CONNECTION_CLOSED',
      ...(tracked.endCode ? { rdsEndCode: tracked.endCode } : {}),
      ...(tracked.cut ? { rdsCut: tracked.cut } : {}),
    })
  let errored = false
  let requestsAtError = 0
  const emit = socket.emit as (this: net.Socket, ...a: unknown[]) => boolean
  socket.emit = function trackedEmit(this: net.Socket, event: string | symbol, first?: unknown) {
    if (event === 'data') onData(first as Buffer)
    else if (event === 'error') {
      errored = true
      requestsAtError = tracked.requests
      if (first && typeof first === 'object') {
        ;(first as NotSentError).rdsSocket = true
        if (tracked.goodbyeWhileIdle) (first as NotSentError).rdsNotSent = true
      }
    } else if (event === 'close' && !tracked.expectedClose) {
      if (!errored) this.emit('error', closedError())
      setImmediate(() =>
        setImmediate(() => {
          // Statements written after the error went nowhere; postgres.js would not reject them after a
          // close with hadError (they would hang), so they get an error of their own first.
          if (tracked.requests > requestsAtError) this.emit('error', closedError())
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

/** The connect event, settled once; `onReady` runs when the session is ready, listened to or not. */
function startupOf(event: ConnectEvent | undefined, onReady: () => void): Startup {
  let open = event
  return {
    ready() {
      onReady()
      if (!open) return
      connectSucceeded(open)
      open = undefined
    },
    failed(error) {
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
    target.onUnexpectedClose?.()
  })
  wrapEmit(socket, tracked, `${target.host}:${target.port}`, backendReader(tracked, goodbye, startup))
  wrapWriteAndEnd(socket, tracked)
  target.sockets.add(tracked)
  return tracked
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
  const fail = (event: ConnectEvent | undefined, error: PhaseError) => {
    connectFailed(event, error)
    return failingSocket(error) as unknown as net.Socket
  }
  return async function rdsSocket(options: { connection?: Record<string, unknown> }): Promise<net.Socket> {
    const event = startConnect(target, ++attempts, tlsMode)
    const budget = Math.min(target.connectTimeoutMs, target.deadline() - now())
    if (budget <= 0) {
      return fail(
        event,
        phaseError('CONNECT_TIMEOUT', `no time left in the invocation to connect to ${name}`),
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
      track(socket, target, timeout === undefined ? undefined : String(timeout), startupOf(event, readied))
      return socket
    } catch (error) {
      raw.destroy()
      return fail(event, error as PhaseError)
    }
  }
}
