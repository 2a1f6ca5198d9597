import type { Sql } from 'postgres'
import { publishRecover } from '../events/publish.ts'
import type { EventTarget } from '../events/types.ts'
import type { ResolvedOptions } from '../options.ts'
import type { Invocations } from './invocation.ts'
import { isStalled, type TrackedSocket } from './socket.ts'

const now = () => performance.now()
const noop = () => {}
/** Timers fire up to a few ms late; a deadline this close is the one the watchdog is armed for. */
const watchdogSlackMs = 60

/** Rounds the budget down to a coarse step so that a warm connection rarely needs a new value. */
export function statementTimeoutBucket(ms: number): number {
  const step = ms > 60_000 ? 10_000 : ms > 10_000 ? 1_000 : 100
  return Math.max(step, Math.floor(ms / step) * step)
}

/**
 * One timer per client, armed for the earliest deadline it must catch and not touched by invocations whose
 * deadline is later: it wakes at the old deadline, finds only later ones and sleeps again (once per function
 * timeout, not once per invocation). Re-arming a timer per invocation cost more around the statement's I/O
 * than the rest of begin() together.
 *
 * When it fires, every running invocation whose deadline passed is marked timed out, and the stalled sockets
 * are destroyed — but only stalls older than every invocation that still has time: a request pending since
 * before such an invocation began cannot be its own, while a younger one may be (and it has time left).
 */
export function createWatchdog(invocations: Invocations, sockets: Set<TrackedSocket>, target: EventTarget) {
  let timer: NodeJS.Timeout | undefined
  /** The performance.now() time the timer is armed for. */
  let armedFor = Number.POSITIVE_INFINITY

  function arm(deadline: number) {
    if (timer && armedFor <= deadline + watchdogSlackMs) return
    clearTimeout(timer)
    armedFor = deadline
    timer = setTimeout(fire, Math.max(0, deadline - now()))
    timer.unref()
  }

  function fire() {
    timer = undefined
    const at = now()
    let next = Number.POSITIVE_INFINITY
    /** When the oldest invocation that still has time began. */
    let oldestLive = Number.POSITIVE_INFINITY
    let expired = false
    for (const invocation of invocations.active) {
      if (invocation.deadline <= at + watchdogSlackMs) {
        if (!invocation.timedOut) expired = invocation.timedOut = true
      } else {
        next = Math.min(next, invocation.deadline)
        oldestLive = Math.min(oldestLive, invocation.beganAt)
      }
    }
    if (expired) {
      let cuts = 0
      for (const tracked of sockets) {
        if (isStalled(tracked) && tracked.pendingSince < oldestLive) {
          tracked.cut = 'deadline'
          publishRecover(target, { reason: 'deadline', action: 'cancel', attempt: ++cuts })
          tracked.socket.destroy()
        }
      }
    }
    // Between invocations (or frozen past the last one's deadline): nothing to cut, nothing to re-arm.
    if (Number.isFinite(next)) arm(next)
  }

  return {
    arm,
    stop: () => clearTimeout(timer),
  }
}

/**
 * The server-side half of the deadline: statement_timeout, so the server cancels a statement (57014) before
 * the function dies. Sent as a startup parameter of new sessions (no round trip) and re-set on a warm session
 * only when its value would outlive the invocation.
 */
export function createStatementTimeouts(
  options: ResolvedOptions,
  sockets: Set<TrackedSocket>,
  sql: () => Sql,
) {
  /** The value new sessions start with; undefined when rds leaves the server's setting alone. */
  function forNewSessions(remainingMs: number): string | undefined {
    if (options.pooler || options.statementTimeout === false) return undefined
    const value = String(
      typeof options.statementTimeout === 'number'
        ? options.statementTimeout
        : statementTimeoutBucket(remainingMs - 2 * options.timeoutMargin),
    )
    ;(sql().options.connection as Record<string, unknown>).statement_timeout = value
    return value
  }

  /**
   * A warm session keeps the value it started with; re-set it only when it would outlive this invocation's
   * client deadline. Pipelined in front of the handler's first statement: no extra round trip.
   */
  function tighten(value: string, remainingMs: number) {
    if (options.config.max !== 1) return
    const limit =
      typeof options.statementTimeout === 'number' ? Number(value) : remainingMs - options.timeoutMargin
    for (const tracked of sockets) {
      if (tracked.ready && Number(tracked.statementTimeout ?? Number.POSITIVE_INFINITY) > limit) {
        tracked.statementTimeout = value
        sql()
          .unsafe(`set statement_timeout = ${Number(value)}`)
          .execute()
          .catch(noop)
      }
    }
  }

  return {
    /** Per invocation with a finite budget: the value for new sessions, and a warm session tightened. */
    apply(remainingMs: number | undefined) {
      if (remainingMs === undefined || !Number.isFinite(remainingMs)) return
      const value = forNewSessions(remainingMs)
      if (sockets.size > 0 && value !== undefined) tighten(value, remainingMs)
    },
  }
}
