import { publishRecover } from '../events/publish.ts'
import type { EventTarget } from '../events/types.ts'
import type { ResolvedOptions } from '../options.ts'
import { runStatement } from '../recovery.ts'
import type { Invocation } from './invocation.ts'
import type { Lifecycle } from './lifecycle.ts'
import { hasPending, isDead, type TrackedSocket, waitForClose } from './socket.ts'
import type { Statements } from './statement.ts'

const now = () => performance.now()
/**
 * Invocations that follow the previous begin or finish closer than this (a benchmark loop, a burst of
 * concurrent invocations) skip the event-loop turns in begin(): a server close landing inside such a gap
 * is as much a race with the statement as one landing just after it was written. Lambda's own round trip to
 * the Runtime API between two invocations is far longer.
 */
const backToBackMs = 0.05
const noneDead: TrackedSocket[] = []

/**
 * Whether anything may be using the postgres.js client: a drizzle statement, or a request on the wire of
 * any socket (which also covers `$client` queries, which do not pass through our guard).
 */
export function busy(sockets: Set<TrackedSocket>, statements: Pick<Statements, 'inFlight'>) {
  if (statements.inFlight() > 0) return true
  for (const tracked of sockets) if (hasPending(tracked)) return true
  return false
}

/** Per socket: an idle one whose server said goodbye (FATAL 57P01, 57P05…, FIN) or that died. */
export function deadSockets(sockets: Set<TrackedSocket>) {
  // Runs on every warm invocation: no array unless something is dead.
  let dead = noneDead
  for (const s of sockets) {
    if (!isDead(s) && !(s.goodbyeWhileIdle && !hasPending(s))) continue
    if (dead === noneDead) dead = []
    dead.push(s)
  }
  return dead
}
/**
 * One with a request on the wire is in use (drizzle, `$client`, another invocation): never dropped here.
 * Each drop is a `freeze` step: the session ended while the container slept (or between invocations).
 */
export function dropSockets(dead: TrackedSocket[], target: EventTarget) {
  for (let at = 0; at < dead.length; at++) {
    const code = (dead[at] as TrackedSocket).endCode
    publishRecover(target, { reason: 'freeze', action: 'reconnect', attempt: at + 1, code })
  }
  return Promise.all(dead.map((tracked) => waitForClose(tracked, !hasPending(tracked))))
}

/**
 * We may be past this loop iteration's poll phase, so yield twice (~3 µs): the next poll reads a close
 * waiting in the kernel and its close callbacks run. Writes postgres.js had queued before us are flushed too.
 */
async function settleSockets(sockets: Set<TrackedSocket>, target: EventTarget) {
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  const dead = deadSockets(sockets)
  if (dead.length) await dropSockets(dead, target)
}

/** Runs the `select 1` probe; with a timeout, a ping that gets no answer destroys the socket so the retry reconnects. */
export async function ping(
  sockets: Set<TrackedSocket>,
  target: EventTarget,
  run: () => Promise<unknown>,
  timeoutMs: number | undefined,
) {
  const sentAt = now()
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          // No answer at all: a peer that vanished without FIN or RST. Only sockets that were written to
          // since the ping and heard nothing back; another invocation's slow statement is not our business.
          let cuts = 0
          for (const tracked of sockets) {
            if (hasPending(tracked) && tracked.lastReadAt < sentAt) {
              tracked.cut = 'freeze'
              tracked.endCode ??= 'ETIMEDOUT'
              publishRecover(target, {
                reason: 'freeze',
                action: 'reconnect',
                attempt: ++cuts,
                code: 'ETIMEDOUT',
              })
              tracked.socket.destroy()
            }
          }
        }, timeoutMs)
  try {
    await run()
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Whether the sessions a warm invocation is about to use are still there: after a freeze the server may have
 * closed them (a close waiting in the kernel), or the peer vanished without a word (the idle probe finds it).
 * Dead sockets are settled before the handler runs, so its statements go to a live session.
 */
export function createLiveness(
  options: ResolvedOptions,
  lifecycle: Lifecycle,
  statements: Statements,
  sockets: Set<TrackedSocket>,
  /** Per invocation, before its first statement: the statement timeouts (deadline.ts). */
  prepare: (remainingMs: number | undefined) => void,
) {
  /** The last begin() or finish() of any invocation. */
  let lastEventAt = now()
  const target: EventTarget = { ...lifecycle.identity, pooler: options.pooler }

  /** The idle probe, recovered (reconnect, credentials) within the invocation's budget. */
  const probe = (invocation: Invocation, timeoutMs: number | undefined) =>
    ping(
      sockets,
      target,
      () =>
        runStatement(statements.recoveryFor(invocation), () => lifecycle.fresh().unsafe('select 1'), true),
      timeoutMs,
    ).finally(() => statements.touch(now()))

  /**
   * Once the sockets are settled: a renewal, the first connect or the idle probe; undefined when none.
   * Seam: a session the writer check found read-only (socket.ts) is dropped here, like a dead one.
   */
  function ready(
    invocation: Invocation,
    started: number,
    remainingMs: number | undefined,
  ): Promise<void> | undefined {
    if (lifecycle.tainted && !busy(sockets, statements)) lifecycle.renew()
    prepare(remainingMs)
    if (sockets.size === 0) return probe(invocation, undefined)
    if (!busy(sockets, statements) && started - statements.lastUsedAt() >= options.pingAfterIdle) {
      const left = Number.isFinite(invocation.deadline)
        ? invocation.deadline - now()
        : lifecycle.fallbackBudgetMs
      return probe(invocation, Math.min(options.pingTimeout, Math.max(1, left)))
    }
    return undefined
  }

  return {
    /**
     * At begin(): settle the sockets, then `prepare` (statement timeouts) and the probe. Undefined when a warm
     * client needs no yield and no round trip; back-to-back invocations need no yield, and then no promise.
     */
    check(invocation: Invocation, started: number, remainingMs: number | undefined) {
      const quietFor = started - lastEventAt
      lastEventAt = started
      if (sockets.size > 0) {
        if (quietFor >= backToBackMs) {
          return settleSockets(sockets, target).then(() => ready(invocation, started, remainingMs))
        }
        const dead = deadSockets(sockets)
        if (dead.length) return dropSockets(dead, target).then(() => ready(invocation, started, remainingMs))
      }
      return ready(invocation, started, remainingMs)
    },
    /** At finish(): the client counts as used until now when nothing else runs on it. */
    finished(at: number, idle: boolean) {
      lastEventAt = at
      if (idle) statements.touch(at)
    },
  }
}
