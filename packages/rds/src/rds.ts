import type { MiddlewareObj, Request } from '@middy/core'
import { canPrefetch, clearCache, getCache, getInternal, modifyCache, processCache } from '@middy/util'
import type { Context } from 'aws-lambda'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { Sql } from 'postgres'
import { classify, fromDatabase } from './classify.ts'
import {
  createClient,
  createInvocationStore,
  type Identity,
  type Invocation,
  type InvocationSlot,
  identityOf,
  type RdsClient,
} from './connection/client.ts'
import { findRdsError, RdsError } from './errors.ts'
import { type InternalField, type RdsOptions, type ResolvedOptions, resolveOptions } from './options.ts'
import { endClient, liveClients } from './registry.ts'

/** The writer's drizzle instance: typed by the schema, `$client` is the postgres.js Sql. */
export type RdsPrimary<TSchema extends Record<string, unknown> = Record<string, never>> =
  PostgresJsDatabase<TSchema> & {
    $client: Sql
  }

/**
 * The drizzle instance on `context.db`: typed by the schema, `$client` is the writer's postgres.js Sql. With a
 * `reader`, reads go to the reader; `$primary` is the writer's instance (read-your-writes), with or without one.
 */
export type RdsDatabase<TSchema extends Record<string, unknown> = Record<string, never>> =
  RdsPrimary<TSchema> & {
    $primary: RdsPrimary<TSchema>
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

/**
 * The internalData values when every one is already settled (warm invocations): read synchronously, as
 * getInternal's own fast path does, so that a warm `before` needs no promise. `undefined` when one is pending.
 */
function settledInternal(
  internalData: Partial<Record<InternalField, string>>,
  request: Request,
): Record<string, unknown> | undefined {
  const internal = request.internal as Record<string, unknown> | undefined
  if (!internal) return undefined
  const values: Record<string, unknown> = {}
  for (const field in internalData) {
    const key = internalData[field as InternalField] as string
    const dot = key.indexOf('.')
    let value = internal[dot === -1 ? key : key.slice(0, dot)]
    if (isPromise(value)) return undefined
    if (dot !== -1) {
      for (const part of key.slice(dot + 1).split('.')) value = safeGet(value, part)
      if (isPromise(value)) return undefined
    }
    values[field] = value
  }
  return values
}

const isPromise = (value: unknown) => typeof (value as { then?: unknown } | undefined)?.then === 'function'
const safeGet = (value: unknown, key: string) =>
  value != null && Object.hasOwn(value as object, key) ? (value as Record<string, unknown>)[key] : undefined

function resolvedFrom(
  options: ResolvedOptions,
  values: Record<string, unknown>,
  base: Identity,
  staticPassword: string | undefined,
): Resolved {
  for (const [field, key] of Object.entries(options.internalData as object)) {
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

/** Resolves request.internal's values: synchronously when all are settled, else through getInternal. */
function resolveInternal(
  options: ResolvedOptions,
  request: Request,
  base: Identity,
  staticPassword: string | undefined,
): Resolved | Promise<Resolved> {
  const internalData = options.internalData as Partial<Record<InternalField, string>>
  const settled = settledInternal(internalData, request)
  if (settled) return resolvedFrom(options, settled, base, staticPassword)
  return getInternal(internalData, request as never).then((values) =>
    resolvedFrom(options, values as Record<string, unknown>, base, staticPassword),
  )
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
   * client look idle while others still run. Kept on the Middy request under a symbol of this middleware
   * instance (two rds() in one stack keep their own): a WeakMap entry per invocation cost more.
   */
  const begun = Symbol('rds client of this invocation')
  /** The invocation handle begin() returned: its deadline, timed-out flag and credential refresh are its own. */
  const handle = Symbol('rds invocation')

  /** Where a failed statement finds its invocation: one store for the clients this middleware builds. */
  const invocationStore = createInvocationStore()

  const build = (resolved: Resolved) => () => {
    const built = createClient(options, { ...resolved, invocationStore })
    liveClients.add(built)
    return built
  }

  // Prefetch: build the client at module load (INIT) when nothing in it depends on the request. No I/O.
  if (canPrefetch(options) && !identityFromRequest) {
    client = processCache(cacheOptions, build({ identity: baseIdentity, password: undefined }))
      .value as RdsClient
  }

  const staticPassword = typeof options.config.password === 'string' ? options.config.password : undefined
  const staticResolved: Resolved = { identity: baseIdentity, password: staticPassword }
  const resolve = (request: Request): Resolved | Promise<Resolved> =>
    options.internalData ? resolveInternal(options, request, baseIdentity, staticPassword) : staticResolved

  async function refreshCredentials(request: Request, current: RdsClient) {
    // Only ever called once per statement, after the server rejected the credential (SQLSTATE 28P01); the
    // recovery publishes the step (recovery.ts).
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
      const { password } = await resolve(request)
      current.setPassword(password)
    }
  }

  /** The container's client for this identity: the one in hand when the cache still holds it, else built. */
  function clientFor(resolved: Resolved): RdsClient {
    const cached = getCache(options.cacheKey) as { value?: unknown; modified?: boolean }
    if (client && cached.value === client && !cached.modified && !client.ended) {
      if (sameIdentity(client.identity, resolved.identity)) return client
    }
    let current = processCache(cacheOptions, build(resolved)).value as RdsClient
    if (current.ended || !sameIdentity(current.identity, resolved.identity)) {
      clearCache(options.cacheKey)
      const stale = current
      current = processCache(cacheOptions, build(resolved)).value as RdsClient
      if (!stale.ended) void endClient(stale)
    }
    if (client && client !== current && !client.ended) void endClient(client)
    client = current
    return current
  }

  /** Synchronous (no promise, so Middy does not await) when the warm client needs no I/O or yield. */
  function beginWith(
    request: Request,
    resolved: Resolved,
    entered?: InvocationSlot,
  ): Promise<void> | undefined {
    const current = clientFor(resolved)
    current.setPassword(resolved.password)
    const invocation = current.begin(
      request.context.getRemainingTimeInMillis?.(),
      () => refreshCredentials(request, current),
      entered,
    )
    const slots = request as unknown as Record<symbol, unknown>
    slots[begun] = current
    slots[handle] = invocation
    if (invocation.ready === undefined) {
      ;(request.context as unknown as Record<string, unknown>)[options.contextKey] = current.db
      return undefined
    }
    return invocation.ready.then(() => {
      ;(request.context as unknown as Record<string, unknown>)[options.contextKey] = current.db
    })
  }

  const rdsMiddlewareBefore = (
    request: Request<unknown, unknown, Error, RdsContext<TSchema, TKey>>,
  ): Promise<void> | undefined => {
    const resolved = resolve(request as Request)
    if (!(resolved instanceof Promise)) return beginWith(request as Request, resolved)
    // begin() runs after this await, too late to enter the async context Middy continues the invocation
    // in (its handler, its statements): enter an empty slot now; begin() fills it.
    const slot: InvocationSlot = { invocation: undefined }
    invocationStore.enterWith(slot)
    return resolved.then((settled) => beginWith(request as Request, settled, slot))
  }

  /** Finishes the invocation this request began, if it began one (no allocation: runs on every warm after). */
  const finish = (request: Request): Invocation | undefined => {
    const slots = request as unknown as Record<symbol, unknown>
    const began = slots[begun] as RdsClient | undefined
    const invocation = slots[handle] as Invocation | undefined
    if (!began || !invocation) return undefined
    slots[begun] = undefined
    slots[handle] = undefined
    began.finish(invocation)
    return invocation
  }

  const rdsMiddlewareAfter = (request: Request) => {
    finish(request)
  }

  const rdsMiddlewareOnError = (request: Request) => {
    const began = (request as unknown as Record<symbol, RdsClient | undefined>)[begun]
    const invocation = finish(request)
    // The invocation never reached the database: an earlier middleware's before threw (kms-env, a secrets
    // fetch…). Its error is not ours to classify: a KMS timeout (ETIMEDOUT) is not a lost connection.
    if (!began || !invocation) return
    // This invocation's own flag: another one that began or timed out since does not change it.
    const timedOut = invocation.timedOut
    const raw = request.error as { cause?: unknown } | undefined
    let found = findRdsError(raw)
    const cause = raw?.cause ?? raw
    // Only the database's own failures are classified; a handler's other I/O keeps its error.
    if (!found && fromDatabase(cause)) found = classify(cause, { ...began.identity, pooler: options.pooler })
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
