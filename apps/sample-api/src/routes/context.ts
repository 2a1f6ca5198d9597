import type { RdsDatabase } from '@rdskit/rds'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import type * as schema from '../db/schema.ts'
import type { RequestLog } from '../http/request-log.ts'

/**
 * The Lambda context as the routes see it: `db` from @rdskit/rds (reads on the reader when DB_READER_HOST is set,
 * `db.$primary` the writer), `log` from the request logger.
 */
export interface AppContext extends Context {
  db: RdsDatabase<typeof schema>
  log: RequestLog
}

/** The event after validation replaced its parts with their parsed outputs. */
export type Validated<Body = unknown, Query = unknown, Path = unknown> = Omit<
  APIGatewayProxyEventV2,
  'body' | 'queryStringParameters' | 'pathParameters'
> & { body: Body; queryStringParameters: Query; pathParameters: Path }
