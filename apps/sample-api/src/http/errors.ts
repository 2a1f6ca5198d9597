import type { MiddlewareObj, Request } from '@middy/core'
import { HttpError } from '@middy/util'
import { findInChain } from './cause-chain.ts'
import { ProblemError } from './problem.ts'
import { unavailableProblem } from './unavailable.ts'

export { findInChain }

const hasCode =
  (code: string) =>
  (e: Record<string, unknown>): e is { code: string } =>
    e.code === code

/** Unique constraints the schema declares, mapped to the field a client can change. */
const uniqueFields: Record<string, string> = { notes_slug_key: 'body.slug' }

const bodyParser = '@middy/http-json-body-parser'

/** What Middy's middlewares put in an HttpError's `cause`: the package that threw, and what it looked at. */
interface MiddyCause {
  package?: unknown
  data?: unknown
  message?: unknown
}

const malformedJson = (error: HttpError) =>
  new ProblemError(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON.', {
    errors: [{ field: 'body', detail: 'send one JSON object' }],
    cause: error,
  })

// The parser refuses prototype-polluting keys (`__proto__`, `constructor.prototype`), naming the key.
const forbiddenKey = (error: HttpError, key: unknown) =>
  new ProblemError(422, 'validation-failed', 'Validation failed', 'The body holds a forbidden key.', {
    errors: [{ field: 'body', detail: `must not contain the key ${JSON.stringify(String(key))}` }],
    cause: error,
  })

/**
 * A client error Middy's http middlewares raised (an HttpError from `createError`, exposed, 4xx), told
 * apart by its status and the `cause` Middy attaches: `{ package, data }` (and the parse error's
 * `message` for malformed JSON). Its message is Middy's wording and never decides anything here.
 */
const fromMiddy = (error: HttpError): ProblemError | undefined => {
  const { statusCode } = error
  if (!error.expose || statusCode < 400 || statusCode >= 500) return undefined
  const cause = (error.cause ?? {}) as MiddyCause
  if (statusCode === 415) {
    return new ProblemError(
      415,
      'unsupported-media-type',
      'Unsupported media type',
      'The body must be JSON, sent with Content-Type: application/json.',
      { errors: [{ field: 'header.content-type', detail: 'must be application/json' }], cause: error },
    )
  }
  if (statusCode === 422 && cause.package === bodyParser) {
    // Its two 422s: a parse failure carries the parser's message (or, with no body at all, no data);
    // a forbidden key carries only the key.
    if (typeof cause.message === 'string' || cause.data === undefined) return malformedJson(error)
    return forbiddenKey(error, cause.data)
  }
  if (statusCode === 404) {
    return new ProblemError(404, 'not-found', 'Not found', 'No route matches this method and path.', {
      cause: error,
    })
  }
  const message = error.message || 'The request was rejected.'
  return new ProblemError(statusCode, 'bad-request', 'Bad request', message, {
    errors: [{ field: 'request', detail: message }],
    cause: error,
  })
}

/**
 * Maps any error to the problem the client sees. Only ProblemErrors and Middy's own 4xx errors keep their
 * message; everything else becomes a generic 500 whose only detail is the request id.
 */
export const toProblem = (error: unknown): ProblemError => {
  if (error instanceof ProblemError) return error
  const middy = error instanceof HttpError ? fromMiddy(error) : undefined
  if (middy) return middy

  const unique = findInChain<{ constraint_name?: string }>(error, hasCode('23505'))
  if (unique) {
    const field = uniqueFields[unique.constraint_name ?? ''] ?? 'body'
    return new ProblemError(
      409,
      'conflict',
      'Conflict',
      `Another note already uses this ${field.replace('body.', '')}.`,
      {
        errors: [{ field, detail: 'must be unique; choose another value' }],
        cause: error,
      },
    )
  }

  const unavailable = unavailableProblem(error)
  if (unavailable) return unavailable

  return new ProblemError(
    500,
    'internal-error',
    'Internal server error',
    'An unexpected error occurred. Quote the requestId when reporting it.',
    { cause: error },
  )
}

/**
 * Middy onError hook placed after @middy/http-error-handler in `.use()` order, so it runs first and hands
 * that middleware an exposed error whose message is the problem JSON (with the request id inside).
 */
export const problemDetails = (): MiddlewareObj => {
  const problemDetailsMiddlewareOnError = (request: Request): void => {
    if (request.response !== undefined) return
    const problem = toProblem(request.error)
    const requestId = requestIdOf(request)
    const rendered = Object.assign(new Error(JSON.stringify({ ...problem.problem, requestId })), {
      name: problem.name,
      statusCode: problem.statusCode,
      expose: true,
      headers: { ...problem.headers, 'Content-Type': 'application/problem+json' },
      cause: request.error,
    })
    request.error = rendered
  }
  return { onError: problemDetailsMiddlewareOnError }
}

/** API Gateway's request id (what the client sees in `apigw-requestid`), else the Lambda invocation id. */
export const requestIdOf = (request: Pick<Request, 'event' | 'context'>): string => {
  const event = request.event as { requestContext?: { requestId?: string } } | undefined
  return (
    event?.requestContext?.requestId ??
    (request.context as { awsRequestId?: string })?.awsRequestId ??
    'unknown'
  )
}
