import { connectChannel, queryChannel, recoverChannel } from './channels.ts'
import { describeFailure } from './error.ts'
import { ConnectPayload, elapsedMs, QueryPayload } from './payloads.ts'
import {
  type ConnectEvent,
  type EventTarget,
  eventVersion,
  type QueryEvent,
  type RecoverEvent,
  type RecoverStep,
  type TlsMode,
} from './types.ts'

/**
 * Publish helpers for the connection code. Each checks `hasSubscribers` first and returns before building
 * anything, so an unobserved client pays one property read per call. A traced operation follows the
 * TracingChannel stages of `tracePromise`: `start` and `end` when it begins, then `asyncStart`/`asyncEnd`
 * when it settles (after `error` when it failed), all with the same payload object.
 */

type Stages = typeof connectChannel

function begin<T extends object>(channel: Stages, payload: T): T {
  channel.start.publish(payload)
  channel.end.publish(payload)
  return payload
}

function settle(channel: Stages, payload: { durationMs?: number }, error?: unknown): void {
  payload.durationMs = elapsedMs(payload)
  if (error !== undefined) {
    ;(payload as { error?: unknown }).error = describeFailure(error)
    channel.error.publish(payload)
  }
  channel.asyncStart.publish(payload)
  channel.asyncEnd.publish(payload)
}

const targetOf = (target: EventTarget): EventTarget => ({
  host: target.host,
  port: target.port,
  database: target.database,
  user: target.user,
  pooler: target.pooler,
})

/** A physical connection is being opened. Returns the payload to settle, or undefined when nobody listens. */
export function startConnect(target: EventTarget, attempt: number, tls: TlsMode): ConnectEvent | undefined {
  if (!connectChannel.hasSubscribers) return undefined
  return begin(connectChannel, new ConnectPayload(target, attempt, tls))
}

/** The connection reached ReadyForQuery (authenticated, parameters set). */
export function connectSucceeded(event: ConnectEvent | undefined): void {
  if (event) settle(connectChannel, event)
}

/** The connection could not be opened (refused, TLS, 53300, 28P01, timeout…). */
export function connectFailed(event: ConnectEvent | undefined, error: unknown): void {
  if (event) settle(connectChannel, event, error ?? new Error('connect failed'))
}

/**
 * A statement is about to go out. `statement` is the text drizzle built (placeholders, no values); the
 * payload carries it sanitised. Returns the payload to settle, or undefined when nobody listens.
 */
export function startQuery(target: EventTarget, statement: string): QueryEvent | undefined {
  if (!queryChannel.hasSubscribers) return undefined
  return begin(queryChannel, new QueryPayload(target, statement))
}

/** The statement answered (after any retries); `rowCount` when the driver reported one. */
export function querySucceeded(event: QueryEvent | undefined, rowCount?: number): void {
  if (!event) return
  if (rowCount !== undefined) event.rowCount = rowCount
  settle(queryChannel, event)
}

/** The statement failed for good (what the caller receives). */
export function queryFailed(event: QueryEvent | undefined, error: unknown): void {
  if (event) settle(queryChannel, event, error ?? new Error('query failed'))
}

/** One recovery step. Off the hot path; still nothing is built when nobody listens. */
export function publishRecover(target: EventTarget, step: RecoverStep): void {
  if (!recoverChannel.hasSubscribers) return
  const event: RecoverEvent = {
    version: eventVersion,
    ...targetOf(target),
    reason: step.reason,
    action: step.action,
    attempt: step.attempt,
  }
  if (step.code !== undefined) event.code = step.code
  if (step.delayMs !== undefined) event.delayMs = step.delayMs
  recoverChannel.publish(event)
}

/** The TLS mode of a resolved `tls` option, for `startConnect`. */
export function tlsModeOf(resolved: false | { rejectUnauthorized?: boolean }): TlsMode {
  if (resolved === false) return 'disable'
  return resolved.rejectUnauthorized === false ? 'require' : 'verify-full'
}
