import type { MiddlewareObj, Request } from '@middy/core'
import { canPrefetch, clearCache, getCache, getInternal, modifyCache, processCache } from '@middy/util'
import type { Context } from 'aws-lambda'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { Sql } from 'postgres'
import { classify } from './classify.ts'
import { createClient, type Identity, identityOf, type RdsClient } from './client.ts'
import { findRdsError, RdsError } from './errors.ts'
import { type InternalField, type RdsOptions, type ResolvedOptions, resolveOptions } from './options.ts'
import { endClient, liveClients } from './registry.ts'

/** The drizzle instance on `context.db`: typed by the schema, `$client` is the postgres.js Sql. */
export type RdsDatabase<TSchema extends Record<string, unknown> = Record<string, never>> =
  PostgresJsDatabase<TSchema> & {
    $client: Sql
  }

export type RdsContext<
  TSchema extends Record<string, unknown> = Record<string, never>,
  TKey extends string = 'db',
> = Context & {
  [K in TKey]: RdsDatabase<TSchema>
}

const identityFields: readonly InternalField[] = ['host', 'port', 'database', 'username', 'user']

const sameIdentity = (a: Identity, b: Identity) =>
  a.host === b.host && a.port === b.port && a.database === b.database && a.user === b.user

const rootKey = (internalKey: string) => internalKey.split('.')[0] ?? internalKey

interface Resolved {
  identity: Identity
  password: string | undefined
}

async function resolveInternal(
  options: ResolvedOptions,
  request: Request,
  base: Identity,
): Promise<Resolved> {
  const staticPassword = typeof options.config.password === 'string' ? options.config.password : undefined
  if (!options.internalData) return { identity: base, password: staticPassword }
  const values = (await getInternal(options.internalData, request as never)) as Record<string, unknown>
  for (const [field, key] of Object.entries(options.internalData)) {
    const value = values[field]
    if (value === undefined || value === null || value === '') {
      throw new RdsError(
        'CREDENTIALS_MISSING',
        `rds(): internalData.${field} ('${key}') resolved to nothing in request.internal`,
        {
          hint: `put the middleware that fetches '${rootKey(key)}' (kmsEnv, @middy/secrets-manager…) before rds() in .use(), and check the dotted path`,
        },
      )
    }
  }
  const text = (field: InternalField) => (values[field] === undefined ? undefined : String(values[field]))
  return {
    identity: {
      host: text('host') ?? base.host,
      port: values.port === undefined ? base.port : Number(values.port),
      database: text('database') ?? base.database,
      user: text('username') ?? text('user') ?? base.user,
    },
    password: text('password') ?? staticPassword,
  }
}

/**
 * Middy middleware: one postgres.js client per container (built once, connected by the first invocation,
 * reused by every later one), a typed drizzle instance on `context[contextKey]`, and recovery from
 * freezes, dropped sockets, exhaustion, credential rotation and poolers.
 */
export function rds<
  TSchema extends Record<string, unknown> = Record<string, never>,
  TKey extends string = 'db',
>(opts: RdsOptions<TSchema, TKey> = {}): MiddlewareObj<unknown, unknown, Error, RdsContext<TSchema, TKey>> {
  const options = resolveOptions(opts as RdsOptions<Record<string, unknown>, string>)
  const baseIdentity = identityOf(options.config)
  const cacheOptions = { cacheKey: options.cacheKey, cacheExpiry: -1 }
  const identityFromRequest = identityFields.some((field) => options.internalData?.[field] !== undefined)
  let client: RdsClient | undefined
  /**
   * The client each invocation began on. `after`/`onError` finish exactly those: Middy also runs our onError
   * when an earlier middleware's `before` threw, and finishing an invocation that never began would make the
   * client look idle while others still run.
   */
  const begun = new WeakMap<object, RdsClient>()

  const build = (resolved: Resolved) => () => {
    const built = createClient(options, resolved)
    liveClients.add(built)
    return built
  }

  // Prefetch: build the client at module load (INIT) when nothing in it depends on the request. No I/O.
  if (canPrefetch(options) && !identityFromRequest) {
    client = processCache(cacheOptions, build({ identity: baseIdentity, password: undefined }))
      .value as RdsClient
  }

  async function refreshCredentials(request: Request, current: RdsClient) {
    const source = options.credentialSource
    if (options.internalData && source) {
      const cached = getCache(source.cacheKey) as { value?: Record<string, unknown> }
      if (cached.value) {
        const value = { ...cached.value }
        for (const key of Object.values(options.internalData)) value[rootKey(key)] = undefined
        modifyCache(source.cacheKey, value)
        await source.middleware?.before?.(request as never)
      }
    }
    if (options.internalData) {
      const { password } = await resolveInternal(options, request, current.identity)
      current.setPassword(password)
    }
  }

  const rdsMiddlewareBefore = async (
    request: Request<unknown, unknown, Error, RdsContext<TSchema, TKey>>,
  ) => {
    const resolved = await resolveInternal(options, request as Request, baseIdentity)
    let current = processCache(cacheOptions, build(resolved)).value as RdsClient
    if (current.ended || !sameIdentity(current.identity, resolved.identity)) {
      clearCache(options.cacheKey)
      const stale = current
      current = processCache(cacheOptions, build(resolved)).value as RdsClient
      if (!stale.ended) void endClient(stale)
    }
    if (client && client !== current && !client.ended) void endClient(client)
    client = current
    current.setPassword(resolved.password)
    begun.set(request, current)
    await current.begin(request.context.getRemainingTimeInMillis?.(), () =>
      refreshCredentials(request as Request, current),
    )
    ;(request.context as Record<string, unknown>)[options.contextKey] = current.db
  }

  const finish = (request: Request): RdsClient | undefined => {
    const began = begun.get(request)
    begun.delete(request)
    began?.finish()
    return began
  }

  const rdsMiddlewareAfter = (request: Request) => {
    finish(request)
  }

  const rdsMiddlewareOnError = (request: Request) => {
    const began = finish(request)
    const timedOut = began?.timedOut ?? false
    const raw = request.error as { cause?: unknown } | undefined
    let found = findRdsError(raw)
    const current = began ?? client
    if (!found && current)
      found = classify(raw?.cause ?? raw, { ...current.identity, pooler: options.pooler })
    if (found && timedOut && found.code === 'CONNECTION_LOST') {
      found = new RdsError(
        'TIMEOUT',
        'the statement did not finish before the invocation deadline; its connection was closed',
        {
          retryable: true,
          cause: found.cause,
          hint: 'the server stopped answering or the statement is too slow for the time left: check the server, add an index or raise the Lambda timeout',
        },
      )
    }
    if (found) request.error = found
  }

  return {
    before: rdsMiddlewareBefore,
    after: rdsMiddlewareAfter as MiddlewareObj['after'],
    onError: rdsMiddlewareOnError,
  }
}

/**
 * Ends every client this process built (for tests, and for a SIGTERM handler when a Lambda extension is
 * registered: `process.on('SIGTERM', () => close())`). The next invocation builds a new one.
 */
export async function close(): Promise<void> {
  const clients = [...liveClients]
  await Promise.all(clients.map(endClient))
}
