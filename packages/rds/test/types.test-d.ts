import middy, { type MiddlewareObj } from '@middy/core'
import type { Context } from 'aws-lambda'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { Sql } from 'postgres'
import { describe, expectTypeOf, it } from 'vitest'
import rdsDefault, { migrate, type RdsError, type RdsErrorCode, rds } from '../src/index.ts'
import * as schema from './fixtures/schema.ts'

describe('types', () => {
  it('types context.db from the schema, with $client the postgres.js Sql', () => {
    middy()
      .use(rds({ schema }))
      .handler(async (_event, context) => {
        expectTypeOf(context.db).toMatchTypeOf<PostgresJsDatabase<typeof schema>>()
        expectTypeOf(context.db.$client).toEqualTypeOf<Sql>()
        const rows = await context.db.select().from(schema.notes)
        expectTypeOf(rows).toEqualTypeOf<{ id: number; body: string; createdAt: Date }[]>()
        const first = await context.db.query.notes.findFirst()
        expectTypeOf(first).toEqualTypeOf<{ id: number; body: string; createdAt: Date } | undefined>()
        // @ts-expect-error: no such table in the schema
        context.db.query.comments
      })
  })

  it('types context.db the same with a reader, and $primary as the writer instance', () => {
    middy()
      .use(rds({ schema, reader: 'db.cluster-ro-abc.eu-west-1.rds.amazonaws.com' }))
      .handler(async (_event, context) => {
        expectTypeOf(context.db).toMatchTypeOf<PostgresJsDatabase<typeof schema>>()
        expectTypeOf(context.db.$primary).toMatchTypeOf<PostgresJsDatabase<typeof schema>>()
        expectTypeOf(context.db.$primary.$client).toEqualTypeOf<Sql>()
        const fresh = await context.db.$primary.query.notes.findFirst()
        expectTypeOf(fresh).toEqualTypeOf<{ id: number; body: string; createdAt: Date } | undefined>()
      })
    rds({ reader: { host: 'replica.internal', port: 5433 } })
    // @ts-expect-error: a host name or { host, port }
    rds({ reader: 5432 })
  })

  it('follows contextKey', () => {
    middy()
      .use(rds({ schema, contextKey: 'database' }))
      .handler(async (_event, context) => {
        expectTypeOf(context.database).toMatchTypeOf<PostgresJsDatabase<typeof schema>>()
        // @ts-expect-error: renamed
        context.db
      })
  })

  it('exports the default as the named factory, and typed errors', () => {
    expectTypeOf(rdsDefault).toEqualTypeOf(rds)
    expectTypeOf<RdsError['code']>().toEqualTypeOf<RdsErrorCode>()
    expectTypeOf<RdsErrorCode>().toEqualTypeOf<'TOO_MANY_CONNECTIONS' | 'AUTH_FAILED' | RdsErrorCode>()
    expectTypeOf(migrate).parameter(0).toHaveProperty('migrationsFolder').toEqualTypeOf<string>()
  })

  it('accepts any Middy middleware as credentialSource.middleware, typed for its own context and internal', () => {
    // The shape kmsEnv() and @middy/secrets-manager return: before() wants their own context and internal.
    type Secrets = { dbPassword: string }
    const source: MiddlewareObj<unknown, unknown, Error, Context & Secrets, Secrets> = {
      before: async (request) => {
        request.internal.dbPassword = request.context.dbPassword
      },
    }
    rds({
      internalData: { password: 'dbPassword' },
      credentialSource: { cacheKey: 'kms', middleware: source },
    })
    const plain: MiddlewareObj = { before: () => {} }
    rds({
      internalData: { password: 'dbPassword' },
      credentialSource: { cacheKey: 'kms', middleware: plain },
    })
    rds({
      internalData: { password: 'dbPassword' },
      // @ts-expect-error: before must be a function
      credentialSource: { cacheKey: 'kms', middleware: { before: 'not a hook' } },
    })
  })
})
