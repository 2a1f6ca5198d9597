import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from '@aws-lambda-powertools/logger'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { describeError } from '../http/describe-error.ts'
import { ProblemError, problemContentType } from '../http/problem.ts'
import { lambdaContext, toEventV2 } from './events.ts'

export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>

export interface LocalApiOptions {
  handler: LambdaHandler
  /** Default 127.0.0.1: never listen beyond the loopback. */
  host?: string
  /** Default 3000; 0 picks a free port. */
  port?: number
  functionName?: string
  region?: string
  accountId?: string
  /** Lambda timeout; API Gateway's own integration limit is 30 s. Default 29 s. */
  timeoutMs?: number
  /** API Gateway HTTP API rejects payloads over 10 MB. */
  maxPayloadBytes?: number
  logger?: Logger
}

export interface LocalApi {
  url: string
  server: Server
  close(): Promise<void>
}

const gatewayError = (res: ServerResponse, status: number, message: string) => {
  const body = JSON.stringify({ message })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/**
 * A request Node's HTTP parser refuses (a space or a raw non-ASCII byte in the URL, a broken header)
 * never becomes an event, so the handler cannot answer it: answer it here, in the API's problem+json,
 * instead of Node's bodiless `400 Bad Request`.
 */
export const answerUnparseable = (error: Error & { code?: string }, socket: Socket): void => {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW'
  const problem = tooLarge
    ? new ProblemError(
        431,
        'headers-too-large',
        'Request headers too large',
        'The request headers are too large.',
        {
          errors: [{ field: 'header', detail: 'must be smaller; send fewer or shorter headers' }],
        },
      )
    : new ProblemError(
        400,
        'bad-request',
        'Bad request',
        'The request is not valid HTTP, so it could not be read.',
        {
          errors: [
            {
              field: 'request',
              detail:
                'must be valid HTTP/1.1; percent-encode spaces (%20) and non-ASCII characters in the URL',
            },
          ],
        },
      )
  const body = JSON.stringify({ ...problem.problem, requestId: randomBytes(10).toString('base64') })
  const reason = tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'
  socket.end(
    `HTTP/1.1 ${problem.statusCode} ${reason}\r\ncontent-type: ${problemContentType}\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}

/**
 * Writes a payload 2.0 result the way API Gateway does: a structured result (`statusCode`) as given,
 * with each cookie as its own set-cookie header and a base64 body decoded; anything else as a 200 JSON
 * body.
 */
export const writeResult = (res: ServerResponse, result: APIGatewayProxyResultV2, requestId: string) => {
  const structured = typeof result === 'object' && result !== null && 'statusCode' in result
  const headers: Record<string, string | string[]> = { 'apigw-requestid': requestId }
  let status = 200
  let body: Buffer
  if (structured) {
    status = result.statusCode ?? 200
    for (const [k, v] of Object.entries(result.headers ?? {})) headers[k.toLowerCase()] = String(v)
    if (result.cookies?.length) headers['set-cookie'] = result.cookies
    const raw = result.body ?? ''
    body = result.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8')
  } else {
    headers['content-type'] = 'application/json'
    body = Buffer.from(typeof result === 'string' ? result : JSON.stringify(result), 'utf8')
  }
  headers['content-length'] = String(body.length)
  res.writeHead(status, headers)
  res.end(body)
}

const readBody = (req: IncomingMessage, limit: number) =>
  new Promise<Buffer | undefined>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        resolve(undefined)
        req.resume()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)))
    req.on('error', reject)
  })

/**
 * A small stand-in for API Gateway (HTTP API, payload 2.0, `$default` route) in front of a Lambda
 * handler, for local runs, end-to-end tests and benchmarks. Invocations run concurrently in one process,
 * which is how one warm container behaves under API Gateway's per-request dispatch, except that Lambda
 * would spread concurrent requests over several containers.
 */
export const startLocalApi = async (options: LocalApiOptions): Promise<LocalApi> => {
  const functionName = options.functionName ?? 'rdskit-sample-api'
  const region = options.region ?? 'us-east-1'
  const accountId = options.accountId ?? '123456789012'
  const timeoutMs = options.timeoutMs ?? 29_000
  const maxPayload = options.maxPayloadBytes ?? 10 * 1024 * 1024
  const host = options.host ?? '127.0.0.1'

  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req, maxPayload)
      if (!body) return gatewayError(res, 413, 'Request Entity Too Large')
      const event = toEventV2(
        {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          body,
          sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
          protocol: `HTTP/${req.httpVersion}`,
        },
        { accountId, apiId: 'local', stage: '$default' },
      )
      const context = lambdaContext({ functionName, region, accountId, memoryLimitInMB: 1024, timeoutMs })
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs)
      })
      try {
        const result = await Promise.race([options.handler(event, context), timeout])
        if (result === 'timeout') return gatewayError(res, 503, 'Service Unavailable')
        writeResult(res, result, event.requestContext.requestId)
      } finally {
        clearTimeout(timer)
      }
    } catch (error) {
      // What Lambda + API Gateway do with an unhandled error: log it, answer a bare 500.
      options.logger?.error('invocation failed', describeError(error))
      if (!res.headersSent) gatewayError(res, 500, 'Internal Server Error')
    }
  })
  server.on('clientError', answerUnparseable)
  // Keep-alive sockets would hold close() open; the benchmark clients reuse their connections anyway.
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 3000, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
