import type { Options as PostgresOptions, PostgresType } from 'postgres'
import { defaults } from './defaults.ts'
import { RdsError } from './errors.ts'

export type TlsOption =
  | 'verify-full'
  | 'require'
  | false
  | { ca?: string | Buffer | (string | Buffer)[]; servername?: string }

export interface IamAuthOptions {
  region?: string
  hostname?: string
  port?: number
  username?: string
}

/**
 * Any Middy middleware object, whatever the context and internal types its hooks are written for (kmsEnv(),
 * @middy/secrets-manager…): rds only calls `before` with the invocation's own request.
 */
export interface CredentialSourceMiddleware {
  before?: ((request: never) => unknown) | undefined
}

export interface CredentialSource {
  /** The `cacheKey` of the Middy middleware that writes the `internalData` keys into `request.internal`. */
  cacheKey: string
  /** That middleware instance: its `before` is re-run after its cache entry is invalidated. */
  middleware?: CredentialSourceMiddleware
}

/** A reader endpoint: its host name, or host and port (the writer's port when left out). */
export type ReaderOption = string | { host: string; port?: number }

/** The reader endpoint as the client uses it. */
export interface ReaderTarget {
  host: string
  port: number | undefined
}

/** Config fields that `internalData` may take from `request.internal`. */
export type InternalField = 'host' | 'port' | 'database' | 'username' | 'user' | 'password'

export interface RdsOptions<
  TSchema extends Record<string, unknown> = Record<string, never>,
  TKey extends string = 'db',
> {
  schema?: TSchema
  config?: PostgresOptions<Record<string, PostgresType>>
  reader?: ReaderOption
  contextKey?: TKey
  internalData?: Partial<Record<InternalField, string>>
  credentialSource?: CredentialSource
  iamAuth?: boolean | IamAuthOptions
  tls?: TlsOption
  pooler?: boolean
  statementTimeout?: number | false
  timeoutMargin?: number
  maxPoolSize?: number
  pingAfterIdle?: number
  pingTimeout?: number
  retryReadOnly?: boolean
  backoffBase?: number
  backoffCap?: number
  cacheKey?: string
  disablePrefetch?: boolean
  drizzle?: { logger?: unknown; casing?: 'snake_case' | 'camelCase' }
  logger?: { warn(message: string): void }
}

export type ResolvedOptions = Required<
  Omit<
    RdsOptions<Record<string, unknown>, string>,
    'schema' | 'internalData' | 'credentialSource' | 'statementTimeout' | 'reader'
  >
> & {
  reader: ReaderTarget | undefined
  schema: Record<string, unknown> | undefined
  internalData: Partial<Record<InternalField, string>> | undefined
  credentialSource: CredentialSource | undefined
  statementTimeout: number | false | undefined
  config: PostgresOptions<Record<string, PostgresType>> & { max: number }
}

const internalFields: readonly string[] = ['host', 'port', 'database', 'username', 'user', 'password']
const optionNames = new Set(Object.keys(defaults))

const invalid = (name: string, expected: string) =>
  new RdsError('INVALID_OPTION', `rds(): option \`${name}\` must be ${expected}`, {
    hint: `see the options table of @rdskit/rds; \`${name}\` defaults to ${JSON.stringify((defaults as Record<string, unknown>)[name] ?? null)}`,
  })

/** A logger receives warnings only; anything with a `warn(message)` method will do (console, pino, Powertools). */
export function checkLogger(value: unknown, owner: 'rds' | 'migrate') {
  if (value !== undefined && typeof (value as { warn?: unknown } | null)?.warn !== 'function') {
    throw new RdsError('INVALID_OPTION', `${owner}(): option \`logger\` must have a warn(message) method`, {
      hint: 'pass console, a pino / Powertools logger, or { warn: (message) => … }',
    })
  }
}

function checkNumber(options: Record<string, unknown>, name: string, min: number) {
  const value = options[name]
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < min)) {
    throw invalid(name, `a number ≥ ${min}`)
  }
}

/**
 * postgres.js's own `ssl` option, when given instead of `tls`, keeps its meaning; verification stays on
 * unless it says otherwise (`rejectUnauthorized: false`, 'require', 'prefer', 'allow').
 */
function tlsFromSsl(ssl: unknown): TlsOption | undefined {
  if (ssl === undefined || ssl === null) return undefined
  if (ssl === false || ssl === 'disable') return false
  if (ssl === true || ssl === 'verify-full') return 'verify-full'
  if (ssl === 'require' || ssl === 'prefer' || ssl === 'allow') return 'require'
  if (typeof ssl === 'object') {
    const { ca, servername, rejectUnauthorized } = ssl as {
      ca?: string
      servername?: string
      rejectUnauthorized?: boolean
    }
    if (rejectUnauthorized === false) return 'require'
    return { ...(ca !== undefined ? { ca } : {}), ...(servername ? { servername } : {}) }
  }
  return undefined
}

function resolveReader(reader: unknown): ReaderTarget | undefined {
  if (reader === undefined) return undefined
  const expected = "a host name or { host, port } (the reader endpoint, e.g. Aurora's cluster-ro endpoint)"
  if (typeof reader === 'string') {
    if (!reader) throw invalid('reader', expected)
    return { host: reader, port: undefined }
  }
  const { host, port } = (reader ?? {}) as { host?: unknown; port?: unknown }
  if (typeof reader !== 'object' || typeof host !== 'string' || !host) throw invalid('reader', expected)
  if (port !== undefined && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)) {
    throw invalid('reader.port', 'an integer from 1 to 65535')
  }
  return { host, port: port as number | undefined }
}

/** Merges defaults and validates, naming the offending option. Reads AWS_LAMBDA_MAX_CONCURRENCY once. */
export function resolveOptions(
  opts: RdsOptions<Record<string, unknown>, string> = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  for (const key of Object.keys(opts)) {
    if (!optionNames.has(key)) throw invalid(key, 'one of the documented options (unknown option)')
  }
  const o = opts as Record<string, unknown>
  for (const name of ['timeoutMargin', 'pingAfterIdle', 'pingTimeout', 'backoffBase', 'backoffCap'])
    checkNumber(o, name, 0)
  checkNumber(o, 'maxPoolSize', 1)
  checkLogger(opts.logger, 'rds')
  if (o.statementTimeout !== undefined && o.statementTimeout !== false) checkNumber(o, 'statementTimeout', 1)
  if (opts.contextKey !== undefined && (typeof opts.contextKey !== 'string' || !opts.contextKey)) {
    throw invalid('contextKey', 'a non-empty string')
  }
  if (opts.cacheKey !== undefined && (typeof opts.cacheKey !== 'string' || !opts.cacheKey)) {
    throw invalid('cacheKey', 'a non-empty string')
  }
  const tls = opts.tls
  if (
    tls !== undefined &&
    tls !== false &&
    tls !== 'verify-full' &&
    tls !== 'require' &&
    (typeof tls !== 'object' || tls === null || Array.isArray(tls))
  ) {
    throw invalid('tls', "'verify-full', { ca }, 'require' or false")
  }
  if (opts.internalData !== undefined) {
    if (typeof opts.internalData !== 'object' || opts.internalData === null) {
      throw invalid('internalData', 'an object mapping config fields to request.internal keys')
    }
    for (const [field, key] of Object.entries(opts.internalData)) {
      if (!internalFields.includes(field))
        throw invalid(`internalData.${field}`, `one of ${internalFields.join(', ')}`)
      if (typeof key !== 'string' || !key)
        throw invalid(`internalData.${field}`, 'a request.internal key (string)')
    }
  }
  if (opts.credentialSource !== undefined) {
    const source = opts.credentialSource
    if (typeof source?.cacheKey !== 'string' || !source.cacheKey) {
      throw invalid(
        'credentialSource.cacheKey',
        'the cacheKey (string) of the middleware that fills internalData',
      )
    }
    if (source.middleware !== undefined && typeof source.middleware.before !== 'function') {
      throw invalid('credentialSource.middleware', 'a Middy middleware object with a before hook')
    }
  }
  if (opts.iamAuth !== undefined && typeof opts.iamAuth !== 'boolean' && typeof opts.iamAuth !== 'object') {
    throw invalid('iamAuth', 'true or { region, hostname, port, username }')
  }
  if (opts.iamAuth && (opts.config?.password !== undefined || opts.internalData?.password !== undefined)) {
    throw new RdsError(
      'INVALID_OPTION',
      'rds(): `iamAuth` and a password (config.password or internalData.password) are both set',
      {
        hint: 'with IAM authentication the token is the password: remove the password',
      },
    )
  }
  const config = { ...defaults.config, ...opts.config } as ResolvedOptions['config']
  for (const name of ['max', 'idle_timeout', 'max_lifetime', 'connect_timeout'] as const) {
    const value = config[name]
    if (value !== undefined && value !== null && (typeof value !== 'number' || value < 0)) {
      throw invalid(`config.${name}`, 'a number ≥ 0')
    }
  }
  const maxPoolSize = opts.maxPoolSize ?? defaults.maxPoolSize
  const tlsOption = opts.tls ?? tlsFromSsl(config.ssl) ?? 'verify-full'
  const concurrency = Number(env.AWS_LAMBDA_MAX_CONCURRENCY)
  if (opts.config?.max === undefined && Number.isInteger(concurrency) && concurrency > 1) {
    config.max = Math.min(concurrency, maxPoolSize)
  }
  if (opts.pooler) config.prepare = false
  return {
    ...defaults,
    ...opts,
    config,
    schema: opts.schema,
    internalData: opts.internalData,
    credentialSource: opts.credentialSource,
    statementTimeout: opts.statementTimeout,
    reader: resolveReader(opts.reader),
    contextKey: opts.contextKey ?? defaults.contextKey,
    iamAuth: opts.iamAuth ?? false,
    tls: tlsOption,
    pooler: opts.pooler ?? false,
    maxPoolSize,
    drizzle: opts.drizzle ?? {},
    logger: opts.logger ?? console,
  } as ResolvedOptions
}
