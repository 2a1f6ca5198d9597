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
import { createReaderEndpoint } from './reader-endpoint.ts'
import { createRestartRecovery } from './restart.ts'
import type { TrackedSocket } from './socket.ts'
import { createStatements } from './statement.ts'
import { createTopology, type TopologyDb } from './topology.ts'

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
  readonly db: TopologyDb
  readonly sockets: Set<TrackedSocket>
  /** The reader endpoint's sockets; empty without a `reader`. */
  readonly readerSockets: Set<TrackedSocket>
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
 * Server restarts and a writer endpoint naming a standby are recovered through one shared reconnect
 * (restart.ts). With a `reader`, a second lifecycle on the reader endpoint (reader-endpoint.ts, without the
 * writer check), joined to the writer's statements with drizzle's `withReplicas` (topology.ts). Events
 * (node:diagnostics_channel `connect`, `query`, `recover`) are published by the part that sees them (socket
 * factory, statement guard, recovery, restart), named in one module beside this one (events/).
 */
export function createClient(options: ResolvedOptions, input: ClientInput): RdsClient {
  const sockets = new Set<TrackedSocket>()
  const invocations = createInvocations(input.invocationStore)
  const lifecycle = createLifecycle(options, input, sockets, invocations.latestDeadline)
  const restart = createRestartRecovery(options, lifecycle, sockets)
  const statements = createStatements(options, lifecycle, invocations, restart)
  const watchdog = createWatchdog(invocations, sockets, { ...lifecycle.identity, pooler: options.pooler })
  const timeouts = createStatementTimeouts(options, sockets, lifecycle.sql)
  const liveness = createLiveness(options, lifecycle, statements, sockets, timeouts.apply)
  const reader =
    options.reader &&
    createReaderEndpoint(options, lifecycle.identity, input.password, options.reader, invocations)
  const db = createTopology(options, statements, reader, invocations)

  return {
    identity: lifecycle.identity,
    get sql() {
      return lifecycle.current
    },
    db,
    sockets,
    readerSockets: reader ? reader.sockets : new Set(),
    get ended() {
      return lifecycle.ended
    },
    setPassword(password) {
      lifecycle.setPassword(password)
      reader?.setPassword(password)
    },
    begin(remainingMs, refresh, slot) {
      const started = now()
      const finite = remainingMs !== undefined && Number.isFinite(remainingMs)
      const deadline = finite ? started + remainingMs - options.timeoutMargin : Number.POSITIVE_INFINITY
      const invocation = invocations.begin(started, deadline, refresh, slot)
      if (finite) watchdog.arm(deadline)
      const writerReady = liveness.check(invocation, started, remainingMs)
      invocation.ready = !reader
        ? writerReady
        : writerReady === undefined
          ? reader.check(invocation, remainingMs)
          : writerReady.then(() => reader.check(invocation, remainingMs))
      return invocation
    },
    finish(invocation) {
      if (!invocation.active) return
      invocations.finish(invocation)
      liveness.finished(now(), invocations.active.length === 0)
    },
    async end() {
      watchdog.stop()
      await Promise.all([lifecycle.end(), reader?.end()])
    },
  }
}
