/**
 * RFC 9457 problem details. Every error the API answers is one of these, so a client reads one shape:
 * `type`, `title`, `status`, `detail`, the `requestId` to quote in a support ticket, and for bad input
 * `errors: [{ field, detail }]` naming each offending field.
 */
export interface FieldError {
  /** Where the bad value is: `body`, `body.title`, `query.limit`, `path.id`, `header.if-match`. */
  field: string
  detail: string
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  errors?: FieldError[]
}

const problemTypeBase = 'urn:rdskit:problem:'

export const problemContentType = 'application/problem+json'

/**
 * An error that already knows the answer it should produce. Shaped like Middy's HttpError
 * (`statusCode`, `expose`, `headers`) so @middy/http-error-handler renders it.
 */
export class ProblemError extends Error {
  readonly statusCode: number
  readonly expose = true
  readonly problem: Problem
  readonly headers: Record<string, string>

  constructor(
    status: number,
    slug: string,
    title: string,
    detail: string,
    extra: { errors?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail, extra.cause === undefined ? undefined : { cause: extra.cause })
    this.name = 'ProblemError'
    this.statusCode = status
    this.problem = { type: `${problemTypeBase}${slug}`, title, status, detail }
    if (extra.errors) this.problem.errors = extra.errors
    this.headers = extra.headers ?? {}
  }
}

/** 400/422 for input that names the field(s) at fault. */
export const invalidInput = (status: 400 | 413 | 415 | 422, errors: FieldError[], detail?: string) =>
  new ProblemError(
    status,
    status === 422 ? 'validation-failed' : status === 413 ? 'payload-too-large' : 'bad-request',
    status === 422 ? 'Validation failed' : status === 413 ? 'Payload too large' : 'Bad request',
    detail ?? errors.map((e) => `${e.field}: ${e.detail}`).join('; '),
    { errors },
  )

export const notFound = (detail: string) => new ProblemError(404, 'not-found', 'Not found', detail)
