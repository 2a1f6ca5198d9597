import {
  classify,
  codeOf,
  type ErrorScene,
  failedBeforeSend,
  isAuthPhase,
  isConnectionLoss,
  sqlstateOf,
} from './classify.ts'
import { RdsError } from './errors.ts'

/** Why a fresh connection may succeed where the last one failed (a recover event's `reason`). */
export type ReconnectReason = 'restart' | 'failover' | 'read-only-session'

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
  /** How many times the postgres.js client was replaced: names the client a statement ran on. */
  generation(): number
  /**
   * The shared reconnect after a session could not be opened (restart.ts): a jittered backoff, then a new
   * postgres.js client, unless the client was already replaced since `failedOn`. Resolves by the deadline.
   */
  reconnect(failedOn: number, reason: ReconnectReason, code: string | undefined): Promise<void>
  /** The client was closed by its owner (close(), a rebuilt client): its CONNECTION_ENDED is final. */
  ended(): boolean
  backoffBase: number
  backoffCap: number
  retryReadOnly: boolean
}

const now = () => performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const retryConnectCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
/** The server is going away or coming back: 57P01/57P02 during the startup, 57P03 starting up / shutting down. */
const restartSqlstates = new Set(['57P01', '57P02', '57P03'])

/** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): uniform in [0, min(cap, base·2^n)]. */
export function fullJitter(attempt: number, base: number, cap: number, random = Math.random): number {
  return random() * Math.min(cap, base * 2 ** attempt)
}

/**
 * Why a statement that never reached the server may succeed on a fresh connection: the server refused, reset
 * or closed the connection during its startup (restarting), answered 57P0x, took longer than a connect
 * attempt may (resuming), broke the password exchange (08P01 there, with no pooler configured), or was a read-only
 * node behind the writer endpoint. Undefined for what a reconnect cannot fix (credentials, TLS, 53300…).
 */
export function reconnectReason(error: unknown, scene: ErrorScene): ReconnectReason | undefined {
  if (!failedBeforeSend(error)) return undefined
  const code = codeOf(error) ?? ''
  const sqlstate = sqlstateOf(error)
  if (code === 'READ_ONLY_SESSION') return 'read-only-session'
  if (retryConnectCodes.has(code) || code === 'CONNECT_TIMEOUT') return 'restart'
  if (restartSqlstates.has(sqlstate ?? '') || (sqlstate === '08P01' && !scene.pooler && isAuthPhase(error)))
    return 'restart'
  return isConnectionLoss(error) ? 'restart' : undefined
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
          hint: 'the server is slow to accept (resuming: Aurora Serverless v2 takes ~15 s from zero; restarting, overloaded or unreachable): retry, or raise the Lambda timeout',
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

/** What the caller sees when the deadline ends the recovery: the most telling answer it got. */
function atDeadline(error: unknown, beforeSend: boolean, ctx: RecoveryContext, last: RdsError | undefined) {
  if (codeOf(error) === '57014') return classify(error, ctx.scene) ?? error
  if (beforeSend && last) return last
  if (classify(error, ctx.scene) || beforeSend) return deadlineError(error, beforeSend, ctx)
  return error
}

/** A statement cut off with the session: re-run when read-only, else CONNECTION_LOST (its outcome is unknown). */
function lostError(error: unknown, classified: RdsError, safe: boolean): RdsError {
  const sqlstate = sqlstateOf(error) ?? (error as { rdsSqlstate?: string }).rdsSqlstate
  const said =
    sqlstate && !classified.message.includes(sqlstate) ? ` (the server said SQLSTATE ${sqlstate})` : ''
  return new RdsError('CONNECTION_LOST', `${classified.message.replace(/\. Hint: .*$/s, '')}${said}`, {
    sqlstate,
    retryable: safe,
    cause: error,
    hint: safe
      ? 'the read-only statement was re-run once and the connection dropped again: the server or network is unstable'
      : 'the statement may or may not have been applied, so it was not re-run: make the write idempotent (an Idempotency-Key stored in the same transaction, or INSERT … ON CONFLICT) and retry it',
  })
}

/**
 * Runs one statement (built fresh by `make` for each attempt) and recovers from what Lambda and the server do
 * to connections, within the invocation's deadline: reconnects with a shared jittered backoff while the
 * server restarts or the writer endpoint names a read-only node, backs off on 53300, refreshes the credential
 * once on 28P01, re-runs once a statement the server refused as read-only (25006) on a new session, and
 * re-runs a dropped read-only statement once. A write that may have reached the server is never re-run.
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
  let refusedRetried = false
  let pending = firstError
  let generation = ctx.generation()
  /** The last answer worth reporting if the deadline cuts a later attempt short (53300 beats a timeout). */
  let lastRefusal: RdsError | undefined
  for (;;) {
    try {
      if (pending !== undefined) throw pending
      generation = ctx.generation()
      return await make()
    } catch (error) {
      pending = undefined
      if (error instanceof RdsError) throw error
      const beforeSend = failedBeforeSend(error)
      // The session died under a statement: get a clean client before anything else goes out.
      if (!beforeSend && isConnectionLoss(error)) await ctx.settle()
      if (ctx.timedOut() || now() >= ctx.deadline()) throw atDeadline(error, beforeSend, ctx, lastRefusal)
      // A renewal ended the client this statement was queued on before it went out: send it on the new one.
      if (codeOf(error) === 'CONNECTION_ENDED' && !ctx.ended()) continue
      const classified = classify(error, ctx.scene)
      if (!classified) throw error
      const sqlstate = sqlstateOf(error)
      const reason = reconnectReason(error, ctx.scene)
      if (reason) {
        lastRefusal = classified
        await ctx.reconnect(generation, reason, codeOf(error))
        continue
      }
      if (beforeSend && sqlstate === '53300') {
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
      if (sqlstate === '25006' && !refusedRetried) {
        // Refused by a read-only session, so never applied: re-run once on a new session (the writer check
        // refuses read-only ones while the endpoint still names a standby).
        refusedRetried = true
        await ctx.reconnect(generation, 'read-only-session', sqlstate)
        continue
      }
      if (!beforeSend && isConnectionLoss(error)) {
        const safe = readOnly && ctx.retryReadOnly
        if (safe && !lostRetried) {
          lostRetried = true
          continue
        }
        throw lostError(error, classified, safe)
      }
      throw classified
    }
  }
}
