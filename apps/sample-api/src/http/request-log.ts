import type { Logger } from '@aws-lambda-powertools/logger'
import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { MiddlewareObj, Request } from '@middy/core'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { describeError, type LogFields } from './describe-error.ts'
import { requestIdOf } from './errors.ts'

/** What the handlers get on `context.log`: the app logger, whose lines carry this request's ids. */
export type RequestLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: LogFields) => void

/** Per-request state on the Middy request itself: cheaper than a WeakMap lookup on every request. */
const state = Symbol('requestLog')
type LoggedRequest = Request<APIGatewayProxyEventV2, unknown, Error, Context> & { [state]?: number }

/**
 * One access-log line per request (method, path, status, duration; the API Gateway request id as
 * `requestId` next to Powertools' `function_request_id`) and, for a 5xx, the error chain described
 * safely. Adds the request's metrics to the invocation's set (`Requests`, `Latency`, `ServerErrors`,
 * `ClientErrors`), which `logMetrics` flushes. Used after `injectLambdaContext` (which clears the
 * request's keys afterwards) and `logMetrics`, so its after/onError hooks run first and the status is final.
 */
export const requestLog = (
  logger: Logger,
  metrics: Metrics,
): MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, Context> => {
  const log: RequestLog = (level, msg, fields) => (fields ? logger[level](msg, fields) : logger[level](msg))

  const requestLogMiddlewareBefore = (request: LoggedRequest): void => {
    request[state] = performance.now()
    logger.appendKeys({ requestId: requestIdOf(request as Request) })
    ;(request.context as Context & { log: RequestLog }).log = log
  }

  const line = (request: LoggedRequest): LogFields => {
    const http = request.event?.requestContext?.http
    const start = request[state]
    const durationMs = start === undefined ? undefined : Math.round((performance.now() - start) * 100) / 100
    const status = (request.response as { statusCode?: number } | undefined)?.statusCode ?? 500
    metrics.addMetric('Requests', 'Count', 1)
    if (durationMs !== undefined) metrics.addMetric('Latency', 'Milliseconds', durationMs)
    if (status >= 500) metrics.addMetric('ServerErrors', 'Count', 1)
    else if (status >= 400) metrics.addMetric('ClientErrors', 'Count', 1)
    // The request's own id on its line: with overlapping invocations in one process (the local server, Lambda
    // Managed Instances), the logger's appended key is the latest request's by the time this one ends.
    return {
      requestId: requestIdOf(request as Request),
      method: http?.method,
      path: http?.path,
      status,
      durationMs,
    }
  }

  const requestLogMiddlewareAfter = (request: LoggedRequest): void => {
    logger.info('request', line(request))
  }

  const requestLogMiddlewareOnError = (request: LoggedRequest): void => {
    const fields = line(request)
    if ((fields.status as number) >= 500) {
      // The rendered problem keeps the original error as its cause: describe that one, never hand it over.
      const original = (request.error as { cause?: unknown } | null)?.cause ?? request.error
      logger.error('request failed', { ...fields, ...describeError(original) })
    } else {
      logger.info('request', { ...fields, problem: problemType(request.response) })
    }
  }

  return {
    before: requestLogMiddlewareBefore,
    after: requestLogMiddlewareAfter,
    onError: requestLogMiddlewareOnError,
  }
}

const problemType = (response: unknown): string | undefined => {
  const body = (response as { body?: unknown } | undefined)?.body
  if (typeof body !== 'string') return undefined
  try {
    return (JSON.parse(body) as { type?: string }).type
  } catch {
    return undefined
  }
}
