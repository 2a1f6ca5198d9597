import middy, { type MiddlewareObj } from '@middy/core'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'

/** A middleware of a route's stack. */
export type RouteStep = MiddlewareObj<APIGatewayProxyEventV2>

/**
 * Each route is its own small Middy stack (the http-router pattern), so only the routes with a body run
 * the size limit and @middy/http-json-body-parser, and each validates exactly what it reads: path and
 * query first (cheap), then the body. Then its `dependencies` (kms-env, rds): only a request that matched a
 * route and passed validation reaches KMS or the database. `timeoutEarlyInMillis: 0`: the outer stack owns
 * the deadline.
 */
export const route = (
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  steps: RouteStep[],
  fn: unknown,
  dependencies: RouteStep[],
) => ({
  method,
  path,
  handler: middy<APIGatewayProxyEventV2>({ timeoutEarlyInMillis: 0 })
    .use([...steps, ...dependencies])
    .handler(fn as never),
})
