/**
 * The payloads rdskit publishes on `node:diagnostics_channel`. A versioned interface: fields are only ever
 * added; a field removed or changing meaning bumps `version`. No payload carries a password, token,
 * ciphertext, plaintext or query parameter, and errors are summarised (see `EventError`), never the raw
 * driver error, whose message can quote a parameter value.
 */

/** The version every payload carries in `version`. */
export const eventVersion = 1 as const

/** Which server, database and user an event is about. */
export interface EventTarget {
  host: string
  port: number
  database: string
  user: string
  /** Behind a transaction pooler (RDS Proxy, PgBouncer): `pooler: true` was set. */
  pooler: boolean
}

/**
 * A failure, summarised: the class name, the code (an RdsError code, a SQLSTATE, or a Node code such as
 * ECONNRESET), the SQLSTATE when there is one, and a message only when rdskit wrote it (RdsError messages
 * name hosts, users and SQLSTATEs, never values).
 */
export interface EventError {
  name: string
  code?: string
  sqlstate?: string
  message?: string
  retryable?: boolean
}

/** How the connection is protected. */
export type TlsMode = 'verify-full' | 'require' | 'disable'

/** `rdskit:rds:connect` (tracing channel): one physical connection opened, from TCP connect to ReadyForQuery. */
export interface ConnectEvent extends EventTarget {
  readonly version: typeof eventVersion
  /** 1 for the first connection attempt of a statement; higher while recovery retries. */
  attempt: number
  tls: TlsMode
  /** Set when it settles (asyncEnd / error). */
  durationMs?: number
  /** Set on the `error` stage. */
  error?: EventError
}

/** `rdskit:rds:query` (tracing channel): one statement drizzle sent, with the retries recovery made for it. */
export interface QueryEvent extends EventTarget {
  readonly version: typeof eventVersion
  /**
   * The statement as drizzle/postgres.js built it, with `$1` placeholders, and any literal written into the
   * text (a number, a quoted string, a comment) replaced by `?`.
   */
  statement: string
  /** The first keyword, upper case: SELECT, INSERT, UPDATE, DELETE, WITH, BEGIN… */
  operation: string
  /** Low-cardinality summary: the operation and the first table it names (`SELECT notes`). */
  summary: string
  /** Whether rdskit considers it safe to re-run after a dropped connection. */
  readOnly: boolean
  durationMs?: number
  /** Rows returned or affected, when the driver reported it. */
  rowCount?: number
  error?: EventError
}

/** Why recovery acted. */
export type RecoverReason =
  | 'freeze'
  | 'reset'
  | 'restart'
  | 'failover'
  | 'read-only-session'
  | 'rotation'
  | 'exhaustion'
  | 'deadline'

/**
 * What recovery did: dropped a dead session and will open a new one (`reconnect`), re-sent a statement
 * (`retry`), waited before the next connect (`backoff`, with `delayMs`), re-fetched the credential
 * (`refresh`), cut a statement at the invocation deadline (`cancel`), or stopped and surfaced the error
 * (`give-up`, with the RdsError code in `code`).
 */
export type RecoverAction = 'reconnect' | 'retry' | 'backoff' | 'refresh' | 'cancel' | 'give-up'

/** `rdskit:rds:recover` (plain channel): one recovery step. */
export interface RecoverEvent extends EventTarget {
  readonly version: typeof eventVersion
  reason: RecoverReason
  action: RecoverAction
  /** The SQLSTATE or Node code behind the step (57P01, 53300, ECONNRESET…), or the RdsError code on give-up. */
  code?: string
  /** 1 for the first step of this kind within the statement or invocation. */
  attempt: number
  /** The wait before the next attempt (backoff), in milliseconds. */
  delayMs?: number
}

/** What the caller of `publishRecover` says about the step; the target comes from the connection. */
export interface RecoverStep {
  reason: RecoverReason
  action: RecoverAction
  attempt: number
  code?: string | undefined
  delayMs?: number | undefined
}

/**
 * `rdskit:kms-env:decrypt` (tracing channel, published by `@rdskit/kms-env`): one batch of KMS Decrypt
 * calls, all variables in parallel. Declared here so the adapters can subscribe without importing kms-env.
 */
export interface DecryptEvent {
  readonly version: typeof eventVersion
  /** fetchData keys. */
  keys: string[]
  /** Environment variable names holding the ciphertexts. */
  variables: string[]
  /** The key ids Decrypt was pinned to (empty when none was). */
  keyIds: string[]
  count: number
  durationMs?: number
  error?: EventError
}
