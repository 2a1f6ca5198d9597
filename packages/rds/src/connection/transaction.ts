import type { Sql, TransactionSql } from 'postgres'
import { type RecoveryContext, runStatement } from '../recovery.ts'

/** A failure raised once the transaction's callback had started: passed through recovery untouched. */
class AfterCallbackStarted {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

type Callback = (tx: TransactionSql) => unknown

export interface TransactionGuard {
  /** The postgres.js client to begin on (renewed first after a loss). */
  fresh(): Sql
  /** Replaces the postgres.js client now if a session was lost under it; its connections then end. */
  renewIfBroken(): void
  /** The recovery of the invocation the transaction runs for. */
  recovery(): RecoveryContext
  sent(): void
  settled(): void
}

/**
 * `sql.begin` as drizzle's `db.transaction()` calls it. Until its callback starts, a transaction has sent at
 * most a BEGIN, which applies nothing: a session that could not be opened (the server restarting, a read-only
 * node behind the writer endpoint) or that died while the transaction waited for the connection (another
 * invocation held it) is recovered like a single statement, within the invocation's deadline. Once the
 * callback started, nothing is re-run: the callback may have done more than SQL, and its failure reaches the
 * caller as it was (classified by the middleware: CONNECTION_LOST, READ_ONLY…).
 */
export function guardedBegin(guard: TransactionGuard) {
  return (...args: unknown[]): Promise<unknown> => {
    const callback = args[args.length - 1] as Callback
    const mode = args.length > 1 ? (args[0] as string) : undefined
    let started = false
    const run = (tx: TransactionSql) => {
      started = true
      return callback(tx)
    }
    const make = () => {
      const sql = guard.fresh()
      const pending = mode === undefined ? sql.begin(run) : sql.begin(mode, run)
      return pending.catch((error: unknown) => {
        if (!started) throw error
        // postgres.js rejects a transaction whose session closed but leaves its callback running, and that
        // callback's next statement (or the ROLLBACK postgres.js sends when it fails) is written from a
        // setImmediate to a connection whose socket is gone: an uncaught TypeError that ends the container
        // (porsager/postgres#1208). Ending the old client now marks that connection terminated, so they fail.
        guard.renewIfBroken()
        throw new AfterCallbackStarted(error)
      })
    }
    guard.sent()
    // BEGIN is read-only: one lost before its answer may go again, like a read.
    return runStatement(guard.recovery(), make, true)
      .catch((error: unknown) => {
        throw error instanceof AfterCallbackStarted ? error.error : error
      })
      .finally(guard.settled)
  }
}
