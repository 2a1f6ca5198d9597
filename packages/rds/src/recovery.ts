import {
  classify,
  codeOf,
  type ErrorScene,
  failedBeforeSend,
  isConnectionLoss,
  sqlstateOf,
} from './classify.ts'
import { RdsError } from './errors.ts'
import { publishRecover } from './events/publish.ts'
import type { RecoverAction, RecoverReason } from './events/types.ts'

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

/** The server shut the session down (fast or crash shutdown): a restart, not a network reset. */
const shutdownSqlstates = new Set(['57P01', '57P02'])

type Tagged = { rdsCut?: RecoverReason; rdsNotSent?: boolean; rdsEndCode?: string }

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

/**
 * Runs one statement (built fresh by `make` for each attempt) and recovers from what Lambda does to
 * connections: backs off on 53300 and refused connects within the deadline, refreshes the credential once
 * on 28P01, re-runs a dropped read-only statement once. A statement that may have reached the server is
 * re-run only when it is read-only. Each step is published on `rdskit:rds:recover`.
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
  let reconnects = 0
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
      const lost = isConnectionLoss(error)
      // What the server or socket said when the session ended (57P01 before the close), else the error's code.
      const endCode = (error as Tagged).rdsEndCode ?? codeOf(error)
      const reason = lossReason(error, endCode)
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
      const classified = classify(error, ctx.scene)
      if (!classified) throw error
      const sqlstate = sqlstateOf(error)
      const code = codeOf(error) ?? ''
      if (beforeSend && (retryConnectSqlstates.has(sqlstate ?? '') || retryConnectCodes.has(code))) {
        lastRefusal = classified
        const wait = fullJitter(attempt++, ctx.backoffBase, ctx.backoffCap)
        if (now() + wait >= ctx.deadline()) throw giveUp(ctx, 'deadline', classified)
        step(ctx, sqlstate === '53300' ? 'exhaustion' : 'restart', 'backoff', attempt, code, wait)
        await sleep(wait)
        continue
      }
      if (sqlstate === '28P01' && !refreshed) {
        refreshed = true
        step(ctx, 'rotation', 'refresh', 1, sqlstate)
        await ctx.refreshCredentials()
        continue
      }
      if (beforeSend && lost && attempt < 2) {
        // The socket died during the handshake: nothing was sent, so any statement may go again.
        attempt++
        step(ctx, reason, 'retry', attempt, endCode)
        await ctx.settle()
        continue
      }
      if (!beforeSend && lost) {
        const safe = readOnly && ctx.retryReadOnly
        if (safe && !lostRetried) {
          lostRetried = true
          step(ctx, reason, 'retry', 1, endCode)
          continue
        }
        const failure = new RdsError('CONNECTION_LOST', classified.message.replace(/\. Hint: .*$/s, ''), {
          sqlstate,
          retryable: safe,
          cause: error,
          hint: safe
            ? 'the read-only statement was re-run once and the connection dropped again: the server or network is unstable'
            : 'the statement may or may not have been applied, so it was not re-run: make it idempotent (e.g. ON CONFLICT) before retrying',
        })
        throw giveUp(ctx, reason, failure)
      }
      if (lost) throw giveUp(ctx, reason, classified)
      throw sqlstate === '28P01' ? giveUp(ctx, 'rotation', classified) : classified
    }
  }
}
