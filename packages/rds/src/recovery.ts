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
import { publishRecover } from './events/publish.ts'
import type { RecoverAction, RecoverReason } from './events/types.ts'

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
   * It publishes its own `backoff` and `reconnect` steps, once per renewal, whoever waits on it.
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
/** The server shut the session down (fast or crash shutdown): a restart, not a network reset. */
const shutdownSqlstates = new Set(['57P01', '57P02'])

/** Tags rds's sockets put on their errors (socket.ts). */
type Tagged = {
  rdsCut?: RecoverReason
  rdsNotSent?: boolean
  rdsConnectPhase?: boolean
  rdsEndCode?: string
  rdsSqlstate?: string
}

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

/**
 * Why a session was lost under a statement: cut by rds itself (the idle probe or the deadline), ended by
 * the server while idle and then written to (a freeze), shut down by the server (restart), else a reset.
 */
function lossReason(error: unknown, code: string | undefined): RecoverReason {
  const tagged = error as Tagged | undefined
  if (tagged?.rdsCut) return tagged.rdsCut
  if (tagged?.rdsNotSent) return 'freeze'
  return shutdownSqlstates.has(code ?? '') ? 'restart' : 'reset'
}

/**
 * A statement written into a session the server had ended while it was idle (its goodbye was on the way):
 * it never ran, and the session was a working one, so this is a freeze to retry at once, not a failed startup.
 */
const wentIntoDeadSession = (error: unknown) =>
  (error as Tagged).rdsNotSent === true && (error as Tagged).rdsConnectPhase !== true

/** One recovery step on the statement's target; nothing is built when nobody listens. */
function step(
  ctx: RecoveryContext,
  reason: RecoverReason,
  action: RecoverAction,
  attempt: number,
  code: string | undefined,
  delayMs?: number,
): void {
  publishRecover(ctx.scene, { reason, action, attempt, code, delayMs })
}

/** The last step of a recovery: the statement fails with `error` (an RdsError: its code is the step's). */
function giveUp(ctx: RecoveryContext, reason: RecoverReason, error: RdsError): RdsError {
  step(ctx, reason, 'give-up', 1, error.code)
  return error
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

/** What a statement fails with once the deadline passed: the refusal that kept it out beats a timeout. */
function pastDeadline(
  error: unknown,
  beforeSend: boolean,
  lastRefusal: RdsError | undefined,
  ctx: RecoveryContext,
): unknown {
  if (codeOf(error) === '57014') return classify(error, ctx.scene) ?? error
  if (beforeSend && lastRefusal) return lastRefusal
  if (classify(error, ctx.scene) || beforeSend) return deadlineError(error, beforeSend, ctx)
  return error
}

/** A statement cut off with the session: re-run when read-only, else CONNECTION_LOST (its outcome is unknown). */
function lostError(error: unknown, classified: RdsError, safe: boolean): RdsError {
  const sqlstate = sqlstateOf(error) ?? (error as Tagged).rdsSqlstate
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

/** The failure, as recovery's decisions read it. */
function describe(error: unknown) {
  const code = codeOf(error)
  // What the server or socket said when the session ended (57P01 before the close), else the error's code.
  const endCode = (error as Tagged).rdsEndCode ?? code
  return {
    beforeSend: failedBeforeSend(error),
    lost: isConnectionLoss(error),
    code,
    sqlstate: sqlstateOf(error),
    endCode,
    reason: lossReason(error, endCode),
  }
}

/**
 * Runs one statement (built fresh by `make` for each attempt) and recovers from what Lambda and the server do
 * to connections, within the invocation's deadline: reconnects with a shared jittered backoff while the
 * server restarts or the writer endpoint names a read-only node, backs off on 53300, refreshes the credential
 * once on 28P01, re-runs once a statement the server refused as read-only (25006) on a new session, and
 * re-runs a dropped read-only statement once. A write that may have reached the server is never re-run.
 * Each step is published on `rdskit:rds:recover` once (the shared reconnect publishes its own, restart.ts).
 */
export async function runStatement<T>(
  ctx: RecoveryContext,
  make: () => PromiseLike<T>,
  readOnly: boolean,
  firstError?: unknown,
): Promise<T> {
  let attempt = 0
  let notSentRetries = 0
  let lostRetried = false
  let refreshed = false
  let refusedRetried = false
  let reconnects = 0
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
      const { beforeSend, lost, code, sqlstate, endCode, reason } = describe(error)
      if (!beforeSend && lost) {
        // A cut by the watchdog or the idle probe was reported where it was made (deadline.ts, liveness.ts).
        if (!(error as Tagged).rdsCut) step(ctx, reason, 'reconnect', ++reconnects, endCode)
        // The session died under a statement: get a clean client before anything else goes out.
        await ctx.settle()
      }
      if (ctx.timedOut() || now() >= ctx.deadline()) {
        const failure = pastDeadline(error, beforeSend, lastRefusal, ctx)
        throw failure instanceof RdsError ? giveUp(ctx, 'deadline', failure) : failure
      }
      // A renewal ended the client this statement was queued on before it went out: send it on the new one.
      if (code === 'CONNECTION_ENDED' && !ctx.ended()) continue
      const classified = classify(error, ctx.scene)
      if (!classified) throw error
      if (lost && wentIntoDeadSession(error) && notSentRetries < 2) {
        // Nothing was sent on a working session the server had ended: any statement may go again, at once.
        step(ctx, reason, 'retry', ++notSentRetries, endCode)
        await ctx.settle()
        continue
      }
      const why = reconnectReason(error, ctx.scene)
      if (why) {
        // The session could not be opened: wait for the shared reconnect (it publishes backoff, reconnect).
        lastRefusal = classified
        await ctx.reconnect(generation, why, (error as Tagged).rdsSqlstate ?? code)
        continue
      }
      if (beforeSend && sqlstate === '53300') {
        lastRefusal = classified
        const wait = fullJitter(attempt++, ctx.backoffBase, ctx.backoffCap)
        if (now() + wait >= ctx.deadline()) throw giveUp(ctx, 'deadline', classified)
        step(ctx, 'exhaustion', 'backoff', attempt, code, wait)
        await sleep(wait)
        continue
      }
      if (sqlstate === '28P01' && !refreshed) {
        refreshed = true
        step(ctx, 'rotation', 'refresh', 1, sqlstate)
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
      if (!beforeSend && lost) {
        const safe = readOnly && ctx.retryReadOnly
        if (safe && !lostRetried) {
          lostRetried = true
          step(ctx, reason, 'retry', 1, endCode)
          continue
        }
        throw giveUp(ctx, reason, lostError(error, classified, safe))
      }
      if (lost) throw giveUp(ctx, reason, classified)
      if (sqlstate === '25006') throw giveUp(ctx, 'read-only-session', classified)
      throw sqlstate === '28P01' ? giveUp(ctx, 'rotation', classified) : classified
    }
  }
}
