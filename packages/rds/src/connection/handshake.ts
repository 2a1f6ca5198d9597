/**
 * The startup and authentication exchange as the socket sees it: what a fresh socket may carry before its
 * session is ready, and the few backend fields rds reads (ParameterStatus values, the SQLSTATE of an
 * ErrorResponse) without a round trip.
 *
 * Why the write filter exists: postgres.js reuses one connection object for every physical connection of a
 * pool slot, and its `closed()` cancels the pending flush of its write buffer without emptying it. Bytes
 * queued for a socket that died before they were flushed — a StartupMessage written just before a refused
 * or reset connection was reported, a statement written as the server went away — are prepended to the next
 * socket's first write. The server then reads two StartupMessages and answers the second with `08P01
 * expected SASL response, got message type 0`: a handshake desync after a fast restart. An async password
 * (an IAM token being signed) can likewise answer an Authentication request of a dead socket on the new one.
 * So a socket drops, before its session is ready, everything written ahead of its own StartupMessage and
 * every password message the server did not ask for.
 */

/** Untyped messages (length first): StartupMessage 3.0, CancelRequest, SSLRequest, GSSENCRequest. */
const untypedCodes = new Set([196608, 80877102, 80877103, 80877104])
const passwordMessage = 112 // 'p': PasswordMessage, SASLInitialResponse, SASLResponse
const authentication = 82 // 'R'
/** Authentication requests that the client answers with a 'p' message: cleartext, MD5, SASL, SASLContinue. */
const answeredAuthRequests = new Set([3, 5, 10, 11])

/** The handshake state of one socket: what the write filter and the frame reader share. */
export interface Handshake {
  /** Its own StartupMessage (or CancelRequest) went out. */
  startupSent: boolean
  /** Authentication requests read that expect a 'p' answer, minus the answers written. */
  unanswered: number
  /** The server asked for a password: an error from now on is the authentication exchange's. */
  authStarted: boolean
  /** ParameterStatus values that decide whether the session is read-only (PG 14+ reports both). */
  inHotStandby: string | undefined
  defaultReadOnly: string | undefined
  /** SQLSTATE of the last ErrorResponse the server sent on this socket (a FATAL 57P01 before it closed). */
  lastSqlstate: string | undefined
  /** Its severity (`V`, never localised): FATAL or PANIC end the session, ERROR ends a statement. */
  lastSeverity: string | undefined
}

export const newHandshake = (): Handshake => ({
  startupSent: false,
  unanswered: 0,
  authStarted: false,
  inHotStandby: undefined,
  defaultReadOnly: undefined,
  lastSqlstate: undefined,
  lastSeverity: undefined,
})

const isUntyped = (chunk: Buffer, at: number) =>
  chunk[at] === 0 && at + 8 <= chunk.length && untypedCodes.has(chunk.readUInt32BE(at + 4))

/**
 * The part of a frontend write (whole messages: postgres.js never splits one) that belongs to this socket
 * before its session is ready. Returns the chunk itself when nothing is dropped (the usual case).
 */
export function filterBeforeReady(chunk: Buffer, state: Handshake): Buffer {
  const keep: Buffer[] = []
  let dropped = false
  let at = 0
  // The last untyped message of the first write is this socket's own; anything before it was queued for a dead one.
  let ownStartup = -1
  if (!state.startupSent) {
    for (let scan = 0; scan + 5 <= chunk.length; ) {
      const untyped = isUntyped(chunk, scan)
      if (untyped) ownStartup = scan
      scan += untyped ? chunk.readUInt32BE(scan) : 1 + chunk.readUInt32BE(scan + 1)
    }
    if (ownStartup === -1) return chunk
  }
  while (at + 5 <= chunk.length) {
    const untyped = chunk[at] === 0
    const end = at + (untyped ? chunk.readUInt32BE(at) : 1 + chunk.readUInt32BE(at + 1))
    let own = true
    if (!state.startupSent) {
      own = at === ownStartup
      if (own) state.startupSent = true
    } else if (chunk[at] === passwordMessage) {
      own = state.unanswered > 0
      if (own) state.unanswered--
    }
    if (own) keep.push(chunk.subarray(at, end))
    else dropped = true
    at = end
  }
  return dropped ? Buffer.concat(keep) : chunk
}

/** Reads what rds needs from one whole backend message (type at `at`, `end` exclusive). */
export function readBackendMessage(data: Buffer, at: number, end: number, state: Handshake): void {
  const type = data[at]
  if (type === authentication && end - at >= 9) {
    if (answeredAuthRequests.has(data.readUInt32BE(at + 5))) {
      state.unanswered++
      state.authStarted = true
    }
  } else if (type === parameterStatus) {
    const body = data.toString('utf8', at + 5, end - 1)
    const split = body.indexOf('\0')
    const name = body.slice(0, split)
    if (name === 'in_hot_standby') state.inHotStandby = body.slice(split + 1)
    else if (name === 'default_transaction_read_only') state.defaultReadOnly = body.slice(split + 1)
  } else if (type === errorResponse) {
    const fields = errorFields(data, at + 5, end)
    state.lastSqlstate = fields.code
    state.lastSeverity = fields.severity
  }
}

export const parameterStatus = 83 // 'S'
export const errorResponse = 69 // 'E'

/**
 * The `C` (SQLSTATE) and `V` (severity, never localised) fields of an ErrorResponse body: fields are a type
 * byte and a NUL-terminated string. Errors are rare: only they pay for this.
 */
function errorFields(data: Buffer, from: number, end: number): { code?: string; severity?: string } {
  const fields: { code?: string; severity?: string } = {}
  let at = from
  while (at < end && data[at] !== 0) {
    const stop = data.indexOf(0, at + 1)
    if (stop === -1 || stop >= end) break
    if (data[at] === 67)
      fields.code = data.toString('latin1', at + 1, stop) // 'C'
    else if (data[at] === 86) fields.severity = data.toString('latin1', at + 1, stop) // 'V'
    at = stop + 1
  }
  return fields
}

/** The session ends with this ErrorResponse (FATAL, PANIC), rather than one statement. */
export const endsSession = (state: Handshake): boolean =>
  state.lastSeverity === 'FATAL' || state.lastSeverity === 'PANIC'

/**
 * Whether the session is one a writer must not use: `in_hot_standby = on` (a standby, or a node still in
 * recovery), as PostgreSQL 14+ reports at startup. `default_transaction_read_only` alone is a setting a role
 * or database may carry on purpose, so it decides only when `in_hot_standby` is not reported.
 */
export function isReadOnlySession(state: Handshake): boolean {
  if (state.inHotStandby !== undefined) return state.inHotStandby === 'on'
  return state.defaultReadOnly === 'on'
}
