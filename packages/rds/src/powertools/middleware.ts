import type { MiddlewareObj, Request } from '@middy/core'
import { findRdsError } from '../errors.ts'
import { metricsHandlers } from './metrics.ts'
import { type PowertoolsOptions, subscribePowertools } from './subscribe.ts'

export type RdsPowertoolsMiddleware = MiddlewareObj & {
  /** Stops listening (tests, or a handler built twice in one process). */
  unsubscribe: () => void
}

/**
 * Middy middleware: subscribes the rdskit events to Powertools when it is created (at INIT, so the
 * prefetched KMS decrypt is seen too: create it before `kmsEnv()`), and on an RdsError counts it by code
 * (`RdsErrors`, dimension `code`) so an alarm can watch TOO_MANY_CONNECTIONS or TIMEOUT.
 *
 * @example
 * ```ts
 * const observe = rdsPowertools({ logger, metrics, tracer })
 * export const handler = middy()
 *   .use(captureLambdaHandler(tracer))
 *   .use(injectLambdaContext(logger))
 *   .use(logMetrics(metrics, { captureColdStartMetric: true }))
 *   .use(observe)
 *   .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
 *   .use(rds({ ... }))
 * ```
 */
export function rdsPowertools(options: PowertoolsOptions): RdsPowertoolsMiddleware {
  const unsubscribe = subscribePowertools(options)
  const measure = options.metrics ? metricsHandlers(options.metrics) : undefined

  const rdsPowertoolsMiddlewareOnError = (request: Request): void => {
    const error = findRdsError(request.error)
    if (error) measure?.error(error.code)
  }

  return { onError: rdsPowertoolsMiddlewareOnError, unsubscribe }
}
