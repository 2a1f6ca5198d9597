import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'

/** What API Gateway knows about the request, before it builds the payload 2.0 event. */
export interface IncomingRequest {
  method: string
  /** Path and query exactly as sent on the request line (`/notes?tag=a%20b`). */
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
  sourceIp: string
  protocol?: string
}

export interface EventOptions {
  accountId: string
  apiId: string
  stage: string
  now?: Date
}

const textTypes = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded))/i

const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const pad = (n: number) => String(n).padStart(2, '0')
/** `12/Mar/2020:19:03:58 +0000`, API Gateway's requestContext.time format. */
export const clfTime = (d: Date) =>
  `${pad(d.getUTCDate())}/${month[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`

const decode = (s: string) => {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/** Duplicate keys are joined with commas, as payload 2.0 does; undefined when there is no query string. */
export const parseQuery = (raw: string): Record<string, string> | undefined => {
  if (raw === '') return undefined
  // A Map, then fromEntries: keys such as `__proto__` or `toString` become plain own properties.
  const out = new Map<string, string>()
  for (const pair of raw.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const key = decode(eq < 0 ? pair : pair.slice(0, eq))
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1))
    const previous = out.get(key)
    out.set(key, previous === undefined ? value : `${previous},${value}`)
  }
  return Object.fromEntries(out)
}

/**
 * Builds the event API Gateway HTTP API sends with payload format 2.0 and a `$default` route: lowercase
 * header names with duplicates comma-joined, cookies split out of the Cookie header, the query both raw
 * and parsed, the request context, and a text body as-is or a binary one base64-encoded.
 */
export const toEventV2 = (req: IncomingRequest, options: EventOptions): APIGatewayProxyEventV2 => {
  const now = options.now ?? new Date()
  const q = req.url.indexOf('?')
  const rawPath = q < 0 ? req.url : req.url.slice(0, q)
  const rawQueryString = q < 0 ? '' : req.url.slice(q + 1)
  const collected = new Map<string, string>()
  let cookies: string[] | undefined
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    const key = name.toLowerCase()
    if (key === 'cookie') {
      cookies = (Array.isArray(value) ? value.join('; ') : value).split(/;\s*/).filter(Boolean)
      continue
    }
    collected.set(key, Array.isArray(value) ? value.join(',') : value)
  }
  const headers: Record<string, string> = Object.fromEntries(collected)
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${req.sourceIp}`
    : req.sourceIp
  headers['x-forwarded-proto'] ??= 'http'
  headers['x-amzn-trace-id'] ??=
    `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`
  if (req.body.length > 0) headers['content-length'] = String(req.body.length)

  const domainName = headers.host ?? '127.0.0.1'
  const contentType = headers['content-type'] ?? ''
  const isText = textTypes.test(contentType)
  const queryStringParameters = parseQuery(rawQueryString)
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: options.accountId,
      apiId: options.apiId,
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: req.method.toUpperCase(),
        path: decode(rawPath.replace(/\+/g, '%2B')),
        protocol: req.protocol ?? 'HTTP/1.1',
        sourceIp: req.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomBytes(11).toString('base64'),
      routeKey: '$default',
      stage: options.stage,
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: req.body.length > 0 && !isText,
  }
  if (req.body.length > 0) event.body = isText ? req.body.toString('utf8') : req.body.toString('base64')
  return event
}

export interface ContextOptions {
  functionName: string
  region: string
  accountId: string
  memoryLimitInMB: number
  timeoutMs: number
}

/** A Lambda context: the invocation id, the function's identity and the remaining-time clock. */
export const lambdaContext = (options: ContextOptions): Context => {
  const deadline = Date.now() + options.timeoutMs
  const unsupported = () => {
    throw new Error('callback-style completion is not supported: return or throw from the async handler')
  }
  const date = new Date().toISOString().slice(0, 10).replace(/-/g, '/')
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${options.region}:${options.accountId}:function:${options.functionName}`,
    memoryLimitInMB: String(options.memoryLimitInMB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: `${date}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  }
}
