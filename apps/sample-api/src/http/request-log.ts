import type { MiddlewareObj, Request } from '@middy/core'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { requestIdOf } from './errors.ts'
import { describeError, type LogFields, type Logger } from './log.ts'

/** What the handlers get on `context.log`: the app logger bound to this request's ids. */
export type RequestLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: LogFields) => void

const startedAt = new WeakMap<object, number>()

/**
 * One access-log line per request (method, path, status, duration, both request ids) and, for a 5xx,
 * the error chain described safely. Used first, so its after/onError hooks run last and see the final
 * status.
 */
export const requestLog = (
  logger: Logger,
): MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, Context> => {
  const ids = (request: Request): LogFields => ({
    requestId: requestIdOf(request),
    awsRequestId: (request.context as { awsRequestId?: string }).awsRequestId,
  })

  const requestLogMiddlewareBefore = (
    request: Request<APIGatewayProxyEventV2, unknown, Error, Context>,
  ): void => {
    startedAt.set(request, performance.now())
    const bound = ids(request)
    ;(request.context as Context & { log: RequestLog }).log = (level, msg, fields) =>
      logger[level](msg, { ...bound, ...fields })
  }

  const line = (request: Request<APIGatewayProxyEventV2, unknown, Error, Context>): LogFields => {
    const http = request.event?.requestContext?.http
    const status = (request.response as { statusCode?: number } | undefined)?.statusCode ?? 500
    const start = startedAt.get(request)
    return {
      ...ids(request),
      method: http?.method,
      path: http?.path,
      status,
      durationMs: start === undefined ? undefined : Math.round((performance.now() - start) * 100) / 100,
    }
  }

  const requestLogMiddlewareAfter = (
    request: Request<APIGatewayProxyEventV2, unknown, Error, Context>,
  ): void => {
    if (logger.level === 'info' || logger.level === 'debug') logger.info('request', line(request))
  }

  const requestLogMiddlewareOnError = (
    request: Request<APIGatewayProxyEventV2, unknown, Error, Context>,
  ): void => {
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
