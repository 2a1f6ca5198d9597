import type { Sql } from 'postgres'
import { codeOf } from '../classify.ts'
import type { ReaderTarget, ResolvedOptions } from '../options.ts'
import { createStatementTimeouts, createWatchdog } from './deadline.ts'
import type { Invocation, Invocations } from './invocation.ts'
import { createLifecycle, type Identity } from './lifecycle.ts'
import { busy, deadSockets, dropSockets, ping } from './liveness.ts'
import type { TrackedSocket } from './socket.ts'

const now = () => performance.now()
/** After a failure the reader is left alone this long, doubling while it keeps failing, up to the cap. */
export const readerCooldownMs = 1_000
export const readerCooldownCapMs = 30_000

/** The reader's identity: the writer's database and user on the reader's host (and port). */
export function readerIdentity(writer: Identity, reader: ReaderTarget): Identity {
  return { ...writer, host: reader.host, port: reader.port ?? writer.port }
}

/**
 * The options the reader's connections open with: the certificate verified against the reader's host name (an
 * explicit `tls.servername` names the writer), an IAM token signed for the reader's host and port.
 */
function readerOptions(options: ResolvedOptions, identity: Identity): ResolvedOptions {
  let tls = options.tls
  if (typeof tls === 'object') {
    const { servername: _writerName, ...rest } = tls
    tls = rest
  }
  const iamAuth = options.iamAuth
    ? { ...(options.iamAuth === true ? {} : options.iamAuth), hostname: identity.host, port: identity.port }
    : false
  return { ...options, tls, iamAuth }
}

/**
 * The reader endpoint of one client: its own postgres.js instance (lifecycle.ts: opened lazily by the first read,
 * renewed after a loss), its own sockets, watchdog and statement timeouts, with the writer's credentials.
 *
 * Whether it may serve reads: after a failure it is left alone for a cool-down (reads go to the writer), then the
 * next read tries it again on a fresh postgres.js instance, so nothing of the failed session reaches the next
 * handshake. A connect may take at most half the time the invocations have left: the rest belongs to the writer,
 * should the read fall back.
 */
export function createReaderEndpoint(
  options: ResolvedOptions,
  writer: Identity,
  password: string | undefined,
  target: ReaderTarget,
  invocations: Invocations,
) {
  const identity = readerIdentity(writer, target)
  const sockets = new Set<TrackedSocket>()
  const connectDeadline = () => {
    const at = invocations.latestDeadline()
    return Number.isFinite(at) ? now() + (at - now()) / 2 : at
  }
  const lifecycle = createLifecycle(
    readerOptions(options, identity),
    // A reader endpoint's sessions are read-only by design: no writer check there.
    { identity, password, role: 'reader' },
    sockets,
    connectDeadline,
  )
  const events = { ...lifecycle.identity, pooler: options.pooler }
  const watchdog = createWatchdog(invocations, sockets, events)
  const timeouts = createStatementTimeouts(options, sockets, lifecycle.sql)
  const counter = { inFlight: () => inFlight }
  let inFlight = 0
  let lastUsedAt = now()
  let failures = 0
  let downUntil = 0
  /** A read failed on the current postgres.js instance: the next read starts on a fresh one. */
  let stale = false

  function failed(error: unknown) {
    // Concurrent reads sent before the first of them failed fail together: one failure, not one per read.
    if (failures > 0 && now() < downUntil) return
    if (failures === 0) {
      options.logger.warn(
        `@rdskit/rds: the reader ${identity.host}:${identity.port} failed (${codeOf(error) ?? 'unknown error'}); reads go to the writer until it answers again`,
      )
    }
    failures++
    stale = true
    downUntil = now() + Math.min(readerCooldownCapMs, readerCooldownMs * 2 ** (failures - 1))
  }

  /** The idle probe on a reader that has a session: a failure sends reads to the writer, never fails the invocation. */
  function probe(invocation: Invocation) {
    const left = Number.isFinite(invocation.deadline)
      ? invocation.deadline - now()
      : lifecycle.fallbackBudgetMs
    const timeoutMs = Math.min(options.pingTimeout, Math.max(1, left / 2))
    return ping(sockets, events, () => lifecycle.fresh().unsafe('select 1'), timeoutMs)
      .catch(failed)
      .finally(() => {
        lastUsedAt = now()
      })
  }

  return {
    identity,
    sockets,
    /** The postgres.js instance of this moment (drizzle reads its options through it). */
    sql: lifecycle.sql,
    /** Not cooling down after a failure. */
    available: () => failures === 0 || now() >= downUntil,
    /** The postgres.js instance a read goes out on: a fresh one after a failure, once nothing else runs on it. */
    sqlForRead(): Sql {
      if (stale && inFlight === 0) {
        stale = false
        lifecycle.renew()
      }
      inFlight++
      return lifecycle.fresh()
    },
    /** A read sent with sqlForRead() settled: `ok` when the reader answered it. */
    settled(ok: boolean) {
      inFlight--
      lastUsedAt = now()
      if (ok) failures = 0
    },
    failed,
    /**
     * At begin(), after the writer's sockets were settled (the same event-loop turns settled these): arms the
     * watchdog, sets the statement timeouts, drops sessions the server closed during the freeze and probes one
     * idle past `pingAfterIdle`. Never connects: the first read does. Undefined when nothing is to do.
     */
    check(invocation: Invocation, remainingMs: number | undefined): Promise<void> | undefined {
      if (Number.isFinite(invocation.deadline)) watchdog.arm(invocation.deadline)
      timeouts.apply(remainingMs)
      if (sockets.size === 0) return undefined
      const dead = deadSockets(sockets)
      if (dead.length) return dropSockets(dead, events).then(() => undefined)
      const idle = invocation.beganAt - lastUsedAt >= options.pingAfterIdle
      if (idle && failures === 0 && !busy(sockets, counter)) return probe(invocation)
      return undefined
    },
    setPassword: lifecycle.setPassword,
    async end() {
      watchdog.stop()
      await lifecycle.end()
    },
  }
}

export type ReaderEndpoint = ReturnType<typeof createReaderEndpoint>
