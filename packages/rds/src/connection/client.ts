import type { Sql } from 'postgres'
import type { ResolvedOptions } from '../options.ts'
import { createStatementTimeouts, createWatchdog } from './deadline.ts'
import {
  createInvocations,
  type Invocation,
  type InvocationSlot,
  type InvocationStore,
} from './invocation.ts'
import { createLifecycle, type Identity, type LifecycleInput } from './lifecycle.ts'
import { createLiveness } from './liveness.ts'
import { createRestartRecovery } from './restart.ts'
import type { TrackedSocket } from './socket.ts'
import { createStatements, type Db } from './statement.ts'

export type { Invocation, InvocationSlot, InvocationStore } from './invocation.ts'
export { createInvocationStore } from './invocation.ts'
export type { Identity } from './lifecycle.ts'
export { identityOf } from './lifecycle.ts'

export interface ClientInput extends LifecycleInput {
  /** Where statements find their invocation; one per middleware, shared by the clients it builds over time. */
  invocationStore?: InvocationStore
}

const now = () => performance.now()

export interface RdsClient {
  readonly identity: Identity
  readonly sql: Sql
  readonly db: Db
  readonly sockets: Set<TrackedSocket>
  /** Replaces the password the next physical connection authenticates with. */
  setPassword(password: string | undefined): void
  /**
   * Starts one invocation: its deadline, its statement timeout, liveness. `refresh` re-fetches the credential
   * with this invocation's request. The handle's `ready` is undefined when a warm client needed no yield and
   * no round trip, else a promise (rejecting with RdsError when it cannot connect). `slot`: one the caller
   * entered in the invocation's async context before an await (see InvocationSlot).
   */
  begin(remainingMs: number | undefined, refresh: () => Promise<void>, slot?: InvocationSlot): Invocation
  /** Ends the invocation begin() returned; its `timedOut` stays readable. */
  finish(invocation: Invocation): void
  end(): Promise<void>
  readonly ended: boolean
}

/**
 * One postgres.js client and its drizzle instance, built without connecting, assembled from its parts:
 * the lifecycle (the postgres.js instance: open, renew, end), the guarded statements, liveness at begin(),
 * the deadline (watchdog, statement_timeout) and the invocations that run on it.
 *
 * Seams: readers would be a second lifecycle + statements on the reader endpoint, joined with drizzle's
 * `withReplicas` here; events (node:diagnostics_channel `connect`, `query`, `recover`) are published by the
 * part that sees them (socket factory, statement guard, recovery), named in one module beside this one.
 */
export function createClient(options: ResolvedOptions, input: ClientInput): RdsClient {
  const sockets = new Set<TrackedSocket>()
  const invocations = createInvocations(input.invocationStore)
  const lifecycle = createLifecycle(options, input, sockets, invocations.latestDeadline)
  const restart = createRestartRecovery(options, lifecycle, sockets)
  const statements = createStatements(options, lifecycle, invocations, restart)
  const watchdog = createWatchdog(invocations, sockets)
  const timeouts = createStatementTimeouts(options, sockets, lifecycle.sql)
  const liveness = createLiveness(options, lifecycle, statements, sockets, timeouts.apply)

  return {
    identity: lifecycle.identity,
    get sql() {
      return lifecycle.current
    },
    db: statements.db,
    sockets,
    get ended() {
      return lifecycle.ended
    },
    setPassword: lifecycle.setPassword,
    begin(remainingMs, refresh, slot) {
      const started = now()
      const finite = remainingMs !== undefined && Number.isFinite(remainingMs)
      const deadline = finite ? started + remainingMs - options.timeoutMargin : Number.POSITIVE_INFINITY
      const invocation = invocations.begin(started, deadline, refresh, slot)
      if (finite) watchdog.arm(deadline)
      invocation.ready = liveness.check(invocation, started, remainingMs)
      return invocation
    },
    finish(invocation) {
      if (!invocation.active) return
      invocations.finish(invocation)
      liveness.finished(now(), invocations.active.length === 0)
    },
    async end() {
      watchdog.stop()
      await lifecycle.end()
    },
  }
}
