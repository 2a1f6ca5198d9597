import type { Logger } from '@aws-lambda-powertools/logger'
import type { ConnectEvent, DecryptEvent, RecoverEvent } from '../events/types.ts'

/** What the adapter calls on a Powertools Logger (any logger with these methods will do). */
export type LoggerLike = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

type Level = 'debug' | 'info' | 'warn' | 'error'

/**
 * A reconnect after a freeze is what Lambda does all day (info). Riding through a reset, restart, failover,
 * rotation or exhaustion is worth a look (warn). Cutting a statement at the deadline or giving up is an
 * error the caller also sees.
 */
export function recoverLevel(event: RecoverEvent): Level {
  if (event.action === 'give-up' || event.action === 'cancel') return 'error'
  return event.reason === 'freeze' ? 'info' : 'warn'
}

const where = (event: ConnectEvent | RecoverEvent) => ({
  host: event.host,
  port: event.port,
  database: event.database,
  user: event.user,
  pooler: event.pooler,
})

/** One structured line per recovery step; connects at debug (failures at warn); decrypts at debug. */
export function loggerHandlers(logger: LoggerLike) {
  return {
    recover(event: RecoverEvent) {
      const { reason, action, attempt, code, delayMs } = event
      logger[recoverLevel(event)](`rds recovery: ${action} (${reason})`, {
        rds: { event: 'recover', reason, action, attempt, code, delayMs, ...where(event) },
      })
    },
    connect(event: ConnectEvent) {
      const rds = {
        event: 'connect',
        attempt: event.attempt,
        tls: event.tls,
        durationMs: event.durationMs,
        ...where(event),
      }
      if (event.error) logger.warn('rds connect failed', { rds: { ...rds, error: event.error } })
      else logger.debug('rds connected', { rds })
    },
    decrypt(event: DecryptEvent) {
      const kmsEnv = {
        event: 'decrypt',
        variables: event.variables,
        keyIds: event.keyIds,
        count: event.count,
        durationMs: event.durationMs,
      }
      if (event.error) logger.warn('kms-env decrypt failed', { kmsEnv: { ...kmsEnv, error: event.error } })
      else logger.debug('kms-env decrypted', { kmsEnv })
    },
  }
}
