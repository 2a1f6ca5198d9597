import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import type { RequestLog } from '../http/request-log.ts'
import type { Db } from '../notes/repository.ts'

/** The Lambda context as the routes see it: `db` from @rdskit/rds, `log` from the request logger. */
export interface AppContext extends Context {
  db: Db
  log: RequestLog
}

/** The event after validation replaced its parts with their parsed outputs. */
export type Validated<Body = unknown, Query = unknown, Path = unknown> = Omit<
  APIGatewayProxyEventV2,
  'body' | 'queryStringParameters' | 'pathParameters'
> & { body: Body; queryStringParameters: Query; pathParameters: Path }
