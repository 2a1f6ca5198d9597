import type { MiddlewareObj, Request } from '@middy/core'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { requestIdOf } from './errors.ts'
import { describeError, type LogFields, type Logger } from './log.ts'

/** What the handlers get on `context.log`: the app logger bound to this request's ids. */
export type RequestLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: LogFields) => void

/** Per-request state on the Middy request itself: cheaper than a WeakMap lookup on every request. */
const state = Symbol('requestLog')
interface Started {
  start: number
  requestId: string
  awsRequestId: string | undefined
}
type LoggedRequest = Request<APIGatewayProxyEventV2, unknown, Error, Context> & { [state]?: Started }

/**
 * One access-log line per request (method, path, status, duration, both request ids) and, for a 5xx,
 * the error chain described safely. Used first, so its after/onError hooks run last and see the final
 * status.
 */
export const requestLog = (
  logger: Logger,
): MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, Context> => {
  const started = (request: LoggedRequest): Started =>
    request[state] ?? {
      start: Number.NaN,
      requestId: requestIdOf(request as Request),
      awsRequestId: (request.context as { awsRequestId?: string } | undefined)?.awsRequestId,
    }

  const requestLogMiddlewareBefore = (request: LoggedRequest): void => {
    const ids = {
      requestId: requestIdOf(request as Request),
      awsRequestId: (request.context as { awsRequestId?: string }).awsRequestId,
    }
    request[state] = { start: performance.now(), ...ids }
    ;(request.context as Context & { log: RequestLog }).log = (level, msg, fields) =>
      logger[level](msg, fields ? { ...ids, ...fields } : ids)
  }

  const line = (request: LoggedRequest): LogFields => {
    const http = request.event?.requestContext?.http
    const { start, requestId, awsRequestId } = started(request)
    return {
      requestId,
      awsRequestId,
      method: http?.method,
      path: http?.path,
      status: (request.response as { statusCode?: number } | undefined)?.statusCode ?? 500,
      durationMs: Number.isNaN(start) ? undefined : Math.round((performance.now() - start) * 100) / 100,
    }
  }

  const verbose = logger.level === 'info' || logger.level === 'debug'
  const requestLogMiddlewareAfter = (request: LoggedRequest): void => {
    if (verbose) logger.info('request', line(request))
  }

  const requestLogMiddlewareOnError = (request: LoggedRequest): void => {
    const fields = line(request)
    const status = fields.status as number
    if (status >= 500) {
      // The rendered problem keeps the original error as its cause: describe that one.
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
