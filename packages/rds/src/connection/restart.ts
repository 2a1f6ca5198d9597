import { publishRecover } from '../events/publish.ts'
import type { ResolvedOptions } from '../options.ts'
import { fullJitter, type ReconnectReason } from '../recovery.ts'
import type { Lifecycle } from './lifecycle.ts'
import { closeDeadSockets, type TrackedSocket } from './socket.ts'

const now = () => performance.now()

/**
 * Longest single wait between two connects while the server is away. A restart refuses connections for a
 * second or two and the first connect after it is what counts (a refused connect costs the server nothing),
 * so waits stay short: on average a connect lands within ~125 ms of the server accepting again. 53300 keeps
 * `backoffCap`: there, every connect costs a server that is already full.
 */
const reconnectCapMs = 250

/**
 * Server-restart recovery: after a statement failed to open its session (refused, reset or EOF during the
 * startup, 57P01/57P03, a read-only session on the writer endpoint), wait a jittered backoff and replace the
 * postgres.js client, so the next attempt starts from a new connection object. Statements of concurrent
 * invocations that fail meanwhile wait on the same renewal (one in flight), each no longer than its own
 * deadline; the backoff grows with consecutive failures and starts over once a session is accepted.
 */
export function createRestartRecovery(
  options: ResolvedOptions,
  lifecycle: Lifecycle,
  sockets: Set<TrackedSocket>,
) {
  /** Failed reconnects since a session was last accepted. */
  let failures = 0
  let pending: Promise<void> | undefined
  const scene = { ...lifecycle.identity, pooler: options.pooler }
  lifecycle.onSessionReady(() => {
    failures = 0
  })

  async function renewAfter(wait: number, reason: ReconnectReason, code: string | undefined) {
    const attempt = failures
    publishRecover(scene, { reason, action: 'backoff', attempt, code, delayMs: Math.round(wait) })
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    await closeDeadSockets(sockets, 2)
    lifecycle.renew()
    publishRecover(scene, { reason, action: 'reconnect', attempt, code })
  }

  return {
    /**
     * Resolves when the next attempt may go: after the shared renewal, or at once when the client was already
     * renewed since `failedOn` (the generation the statement ran on). Never waits past `deadline`.
     */
    reconnect(failedOn: number, deadline: number, reason: ReconnectReason, code: string | undefined) {
      if (!pending) {
        if (lifecycle.generation !== failedOn) return Promise.resolve()
        const cap = Math.min(options.backoffCap, reconnectCapMs)
        const wait = Math.min(fullJitter(failures++, options.backoffBase, cap), Math.max(0, deadline - now()))
        pending = renewAfter(wait, reason, code).finally(() => {
          pending = undefined
        })
      }
      const left = deadline - now()
      if (left <= 0) return Promise.resolve()
      let timer: NodeJS.Timeout | undefined
      return Promise.race([
        pending,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, left)
        }),
      ]).finally(() => clearTimeout(timer))
    },
  }
}

export type RestartRecovery = ReturnType<typeof createRestartRecovery>
