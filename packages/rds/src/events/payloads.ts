import { shapeOf } from './sql.ts'
import { type ConnectEvent, type EventTarget, eventVersion, type QueryEvent, type TlsMode } from './types.ts'

const now = () => performance.now()

/**
 * A traced operation's payload: its documented fields, and when it began in a private field no subscriber
 * sees. (In a WeakMap instead, a statement's start time doubled the cost of publishing its events: a payload
 * outlives its statement's I/O, so the young-generation GC promotes it, and its entry waits for a full GC.)
 */
class TracedPayload implements EventTarget {
  readonly #startedAt = now()
  readonly version = eventVersion
  host: string
  port: number
  database: string
  user: string
  pooler: boolean
  constructor(target: EventTarget) {
    this.host = target.host
    this.port = target.port
    this.database = target.database
    this.user = target.user
    this.pooler = target.pooler
  }
  static elapsedMs(payload: object): number {
    return #startedAt in payload ? now() - (payload as TracedPayload).#startedAt : 0
  }
}

/** Milliseconds since the payload was built; 0 for an object that is not one of ours. */
export const elapsedMs = TracedPayload.elapsedMs

/** The `rdskit:rds:connect` payload. */
export class ConnectPayload extends TracedPayload implements ConnectEvent {
  attempt: number
  tls: TlsMode
  declare durationMs?: number
  declare error?: ConnectEvent['error']
  constructor(target: EventTarget, attempt: number, tls: TlsMode) {
    super(target)
    this.attempt = attempt
    this.tls = tls
  }
}

/** The `rdskit:rds:query` payload: the statement as `shapeOf` shows it, never its parameters. */
export class QueryPayload extends TracedPayload implements QueryEvent {
  statement: string
  operation: string
  summary: string
  readOnly: boolean
  declare durationMs?: number
  declare rowCount?: number
  declare error?: QueryEvent['error']
  constructor(target: EventTarget, statement: string) {
    super(target)
    const shape = shapeOf(statement)
    this.statement = shape.statement
    this.operation = shape.operation
    this.summary = shape.summary
    this.readOnly = shape.readOnly
  }
}
