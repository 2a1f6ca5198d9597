import { AsyncLocalStorage } from 'node:async_hooks'
import type { RecoveryContext } from '../recovery.ts'

/**
 * One invocation between begin() and finish(). Several run at once on Lambda Managed Instances and in the
 * local server, sharing one client: what belongs to one (its deadline, whether the watchdog cut it, the
 * request a credential refresh runs with) lives here, never in the client.
 */
export class Invocation {
  /** Its deadline passed while it ran: the watchdog fired for it (and cut the stalls that were its own). */
  timedOut = false
  /** Between begin() and finish(). */
  active = true
  /** What begin() still has to do before the handler may run: undefined when nothing (a warm client). */
  ready: Promise<void> | undefined = undefined
  /** Built on the first failure of one of its statements (the happy path never needs it). */
  recovery: RecoveryContext | undefined = undefined
  /** performance.now() at begin(). */
  readonly beganAt: number
  /** performance.now() time after which nothing may be awaited for it; +Infinity without a budget. */
  readonly deadline: number
  /** Re-fetches the credential with this invocation's request (after SQLSTATE 28P01). */
  readonly refresh: () => Promise<void>
  constructor(beganAt: number, deadline: number, refresh: () => Promise<void>) {
    this.beganAt = beganAt
    this.deadline = deadline
    this.refresh = refresh
  }
}

/**
 * What an invocation's async context holds: a slot that begin() fills. A slot, not the invocation itself,
 * because begin() may run after an await (request.internal still resolving), too late to enter the context
 * Middy continues in; rds's before then enters an empty slot first (see rds.ts).
 */
export interface InvocationSlot {
  invocation: Invocation | undefined
}

export type InvocationStore = AsyncLocalStorage<InvocationSlot>

export const createInvocationStore = (): InvocationStore => new AsyncLocalStorage<InvocationSlot>()

/**
 * The invocations running on one client, and which one a statement belongs to.
 *
 * A statement finds its invocation through an AsyncLocalStorage, but on the warm path only invocations that
 * overlap another enter it (`enterWith` costs ~150 ns, a fifth of rds's whole warm overhead): the one that
 * began while nothing else ran, in a context holding no slot — always the case on classic Lambda — is "solo"
 * and found without it. At most one active invocation is solo (any later one began while it ran, so entered
 * a slot), and a solo invocation's context holds no slot. So: the slot's invocation when it is one of ours
 * and still running, else the solo one.
 */
export function createInvocations(store: InvocationStore = createInvocationStore()) {
  const active: Invocation[] = []
  let solo: Invocation | undefined

  return {
    /** An array, not a Set: a Set gives every new invocation an identity hash (~100 ns per begin). */
    active: active as readonly Invocation[],
    /** `slot`: entered by the caller before an await; filled here instead of entering one. */
    begin(beganAt: number, deadline: number, refresh: () => Promise<void>, slot?: InvocationSlot) {
      const invocation = new Invocation(beganAt, deadline, refresh)
      if (slot) slot.invocation = invocation
      else if (active.length === 0 && store.getStore() === undefined) solo = invocation
      else store.enterWith({ invocation })
      active.push(invocation)
      return invocation
    },
    finish(invocation: Invocation): void {
      invocation.active = false
      const at = active.indexOf(invocation)
      if (at !== -1) {
        // Order does not matter: swap the last one in.
        active[at] = active[active.length - 1] as Invocation
        active.pop()
      }
      if (solo === invocation) solo = undefined
    },
    /** The invocation the calling async context runs for; undefined outside any (a leaked promise). */
    current(): Invocation | undefined {
      if (solo !== undefined && active.length === 1) return solo
      const stored = store.getStore()?.invocation
      return stored?.active && active.includes(stored) ? stored : solo
    },
    /** The latest deadline of the running invocations: a shared connection serves all of them. */
    latestDeadline(): number {
      let latest = Number.NEGATIVE_INFINITY
      for (const invocation of active) if (invocation.deadline > latest) latest = invocation.deadline
      return active.length === 0 ? Number.POSITIVE_INFINITY : latest
    },
  }
}

export type Invocations = ReturnType<typeof createInvocations>
