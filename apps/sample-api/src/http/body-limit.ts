import type { MiddlewareObj } from '@middy/core'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { invalidInput } from './problem.ts'

/**
 * Rejects a body larger than `maxBytes` (decoded) with 413 before anything parses it. API Gateway allows
 * 10 MB and Lambda 6 MB; a notes API has no use for either.
 */
export const bodyLimit = (maxBytes: number): MiddlewareObj<APIGatewayProxyEventV2> => {
  const bodyLimitMiddlewareBefore = (request: { event: APIGatewayProxyEventV2 }): void => {
    const { body, isBase64Encoded } = request.event
    if (typeof body !== 'string') return
    // base64: 4 characters carry 3 bytes (minus padding); no need to decode to measure.
    const bytes = isBase64Encoded
      ? Math.floor((body.length * 3) / 4) - (body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0)
      : Buffer.byteLength(body, 'utf8')
    if (bytes > maxBytes) {
      throw invalidInput(413, [
        { field: 'body', detail: `must be at most ${maxBytes} bytes; it is ${bytes}` },
      ])
    }
  }
  return { before: bodyLimitMiddlewareBefore }
}
