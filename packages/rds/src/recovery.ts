import {
  classify,
  codeOf,
  type ErrorScene,
  failedBeforeSend,
  isConnectionLoss,
  sqlstateOf,
} from './classify.ts'
import { RdsError } from './errors.ts'

/** What a statement needs from the client to recover: time budget, credentials, naming. */
export interface RecoveryContext {
  scene: ErrorScene
  /** Absolute performance.now() time after which nothing may be retried or awaited. */
  deadline(): number
  /** True once the invocation's watchdog fired: in-flight sockets were destroyed on purpose. */
  timedOut(): boolean
  /** After a session died under a statement: wait for its socket to close and replace the postgres.js client. */
  settle(): Promise<void>
  /** Re-fetch the credential once after SQLSTATE 28P01 (cache invalidation, new IAM token). */
  refreshCredentials(): Promise<void>
  backoffBase: number
  backoffCap: number
  retryReadOnly: boolean
}

const now = () => performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const retryConnectSqlstates = new Set(['53300', '57P03'])
const retryConnectCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

/** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): uniform in [0, min(cap, base·2^n)]. */
export function fullJitter(attempt: number, base: number, cap: number, random = Math.random): number {
  return random() * Math.min(cap, base * 2 ** attempt)
}

function deadlineError(error: unknown, beforeSend: boolean, ctx: RecoveryContext): RdsError {
  const at = `${ctx.scene.host}:${ctx.scene.port}`
  return beforeSend
    ? new RdsError(
        'CONNECT_TIMEOUT',
        `connecting to ${at} did not finish within the remaining invocation time`,
        {
          retryable: true,
          sqlstate: sqlstateOf(error),
          cause: error,
          hint: 'the server is slow to accept (resuming, overloaded or unreachable): raise the Lambda timeout or check the network path',
        },
      )
    : new RdsError(
        'TIMEOUT',
        `the statement to ${at} did not finish before the invocation deadline; its connection was closed`,
        {
          retryable: true,
          cause: error,
          hint: 'the server stopped answering or the statement is too slow for the time left: check the server, add an index or raise the Lambda timeout',
        },
      )
}

/**
 * Runs one statement (built fresh by `make` for each attempt) and recovers from what Lambda does to
 * connections: backs off on 53300 and refused connects within the deadline, refreshes the credential once
 * on 28P01, re-runs a dropped read-only statement once. A statement that may have reached the server is
 * re-run only when it is read-only.
 */
export async function runStatement<T>(
  ctx: RecoveryContext,
  make: () => PromiseLike<T>,
  readOnly: boolean,
  firstError?: unknown,
): Promise<T> {
  let attempt = 0
  let lostRetried = false
  let refreshed = false
  let pending = firstError
  /** The last answer worth reporting if the deadline cuts a later attempt short (53300 beats a timeout). */
  let lastRefusal: RdsError | undefined
  for (;;) {
    try {
      if (pending === undefined) return await make()
      throw pending
    } catch (error) {
      pending = undefined
      if (error instanceof RdsError) throw error
      const beforeSend = failedBeforeSend(error)
      // The session died under a statement: get a clean client before anything else goes out.
      if (!beforeSend && isConnectionLoss(error)) await ctx.settle()
      if (ctx.timedOut() || now() >= ctx.deadline()) {
        if (codeOf(error) === '57014') throw classify(error, ctx.scene) ?? error
        if (beforeSend && lastRefusal) throw lastRefusal
        if (classify(error, ctx.scene) || beforeSend) throw deadlineError(error, beforeSend, ctx)
        throw error
      }
      const classified = classify(error, ctx.scene)
      if (!classified) throw error
      const sqlstate = sqlstateOf(error)
      const code = codeOf(error) ?? ''
      if (beforeSend && (retryConnectSqlstates.has(sqlstate ?? '') || retryConnectCodes.has(code))) {
        lastRefusal = classified
        const wait = fullJitter(attempt++, ctx.backoffBase, ctx.backoffCap)
        if (now() + wait >= ctx.deadline()) throw classified
        await sleep(wait)
        continue
      }
      if (sqlstate === '28P01' && !refreshed) {
        refreshed = true
        await ctx.refreshCredentials()
        continue
      }
      if (beforeSend && isConnectionLoss(error) && attempt < 2) {
        // The socket died during the handshake: nothing was sent, so any statement may go again.
        attempt++
        await ctx.settle()
        continue
      }
      if (!beforeSend && isConnectionLoss(error)) {
        const safe = readOnly && ctx.retryReadOnly
        if (safe && !lostRetried) {
          lostRetried = true
          continue
        }
        throw new RdsError('CONNECTION_LOST', classified.message.replace(/\. Hint: .*$/s, ''), {
          sqlstate,
          retryable: safe,
          cause: error,
          hint: safe
            ? 'the read-only statement was re-run once and the connection dropped again: the server or network is unstable'
            : 'the statement may or may not have been applied, so it was not re-run: make it idempotent (e.g. ON CONFLICT) before retrying',
        })
      }
      throw classified
    }
  }
}
