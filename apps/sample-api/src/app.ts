import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware'
import middy from '@middy/core'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpRouter from '@middy/http-router'
import httpSecurityHeaders from '@middy/http-security-headers'
import kmsEnv from '@rdskit/kms-env'
import rds from '@rdskit/rds'
import { rdsPowertools } from '@rdskit/rds/powertools'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import type { AppConfig } from './config.ts'
import * as schema from './db/schema.ts'
import { problemDetails } from './http/errors.ts'
import { ProblemError } from './http/problem.ts'
import { requestLog } from './http/request-log.ts'
import { createObservability, type Observability } from './observability.ts'
import { healthRoutes } from './routes/health.ts'
import { noteRoutes } from './routes/notes.ts'
import type { RouteStep } from './routes/route.ts'

/**
 * The security headers a JSON API needs (OWASP REST Security): HSTS, nosniff, no framing, no referrer,
 * a CSP that allows nothing. Middy's defaults target HTML documents (Permissions-Policy with 43
 * features, COEP/COOP, X-Download-Options…): ~1.5 KB per response that no JSON client reads.
 */
export const apiSecurityHeaders = {
  contentSecurityPolicy: {
    'default-src': "'none'",
    'frame-ancestors': "'none'",
    // An empty value drops a directive from Middy's defaults (sandbox and upgrade-insecure-requests stay:
    // harmless on JSON, and Middy adds them whenever they are empty).
    'base-uri': '',
    'form-action': '',
    'report-to': '',
    'require-trusted-types-for': '',
  },
  permissionsPolicy: false,
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  dnsPrefetchControl: false,
  downloadOptions: false,
  permittedCrossDomainPolicies: false,
}

/** http-cors options apart from the origins (configuration). Preflights are answered before KMS or the database. */
export const corsOptions = {
  disableBeforePreflightResponse: false,
  headers: 'Content-Type, If-Match, Idempotency-Key',
  exposeHeaders: 'ETag, Location, Retry-After, Idempotent-Replayed',
  methods: 'GET, POST, PATCH, DELETE, OPTIONS',
  maxAge: 600,
}

/** Where rds() connects, as which user (the password comes from kms-env). */
export const dbConnection = ({ db }: AppConfig) => ({
  host: db.host,
  port: db.port,
  database: db.database,
  username: db.username,
})

export interface AppOptions {
  config: AppConfig
  /** Powertools Logger, Metrics and Tracer to use instead of the ones built from the environment. */
  observability?: Partial<Observability>
  /** Passed to the KMS client (tests point it at the KMS test endpoint). */
  kmsClientOptions?: Record<string, unknown>
  /** Extra postgres.js options (tests shrink timeouts or pools). */
  postgresOptions?: Record<string, unknown>
  /** Middy cache key of the decrypted password; distinct apps in one process need distinct keys. */
  cacheKey?: string
  /**
   * Aborting it unsubscribes the app's Powertools adapter from the rdskit events, which are process-wide:
   * without that, an app built by a test keeps logging every later app's database events.
   */
  signal?: AbortSignal
}

export type AppHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

/** Every route; `dependencies` (kms-env, rds) run inside each, after routing and validation. */
const routes = (config: AppConfig, dependencies: RouteStep[]) => [
  ...noteRoutes({ maxBodyBytes: config.maxBodyBytes, dependencies }),
  ...healthRoutes(dependencies),
]

/** 405 with Allow for a known path under another method; 404 otherwise (router's notFoundResponse). */
const methodNotAllowed = (table: { method: string; path: string }[]) => {
  const patterns = table.map((r) => ({
    method: r.method,
    pattern: new RegExp(`^${r.path.replace(/\{[^/]+\}/g, '[^/]+')}/?$`),
  }))
  return ({ method, path }: { method: string; path: string }): never => {
    const allow = patterns.filter((p) => p.pattern.test(path)).map((p) => p.method)
    if (allow.length > 0) {
      throw new ProblemError(
        405,
        'method-not-allowed',
        'Method not allowed',
        `${method} is not allowed on ${path}.`,
        {
          headers: { Allow: [...new Set(allow)].join(', ') },
        },
      )
    }
    throw new ProblemError(404, 'not-found', 'Not found', `No route matches ${method} ${path}.`)
  }
}

/**
/**
 * The whole API: an outer Middy stack, then http-router into one small stack per route. Order matters:
 * `use()` order is the before order, and after/onError run in reverse. Powertools comes first (the X-Ray
 * segment, the Lambda context on every log line, one metric set per invocation), then the request log, which
 * sees the final status; CORS and security headers land on errors too, and problemDetails turns any error
 * into problem+json before http-error-handler renders it. kms-env and rds run inside the matched route, after
 * its validation: a CORS preflight, a 404, a 405 or a rejected request never touches KMS or the database.
 */
export const createApp = (options: AppOptions): AppHandler => {
  const { config } = options
  const { logger, metrics, tracer } = createObservability(options.observability)
  // Subscribed before kmsEnv() below starts its prefetch, so the decrypt at INIT is measured too.
  const observeRds = rdsPowertools({ logger, metrics, tracer })
  options.signal?.addEventListener('abort', observeRds.unsubscribe, { once: true })
  const passwordKey = 'dbPassword'
  const kmsCacheKey = options.cacheKey ?? '@rdskit/kms-env'
  const passwordFromKms = kmsEnv({
    fetchData: { [passwordKey]: config.passwordEnvVar },
    cacheKey: kmsCacheKey,
    ...(options.kmsClientOptions ? { awsClientOptions: options.kmsClientOptions } : {}),
  })

  const database = rds({
    schema,
    config: { ...dbConnection(config), ...options.postgresOptions },
    // Reads to the reader endpoint when there is one; writes, transactions and db.$primary on the writer.
    reader: config.db.reader,
    internalData: { password: passwordKey },
    // On a rejected password (rotation), rds drops the cached plaintext and re-runs kms-env once.
    credentialSource: { cacheKey: kmsCacheKey, middleware: passwordFromKms },
    tls: config.db.tls === 'disable' ? false : config.db.ca ? { ca: config.db.ca } : 'verify-full',
    cacheKey: `${kmsCacheKey}:rds`,
    logger: { warn: (message: string) => logger.warn(message) },
  })
  const table = routes(config, [passwordFromKms, database] as RouteStep[])

  const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2, Error, Context>()
  if (tracer) handler.use(captureLambdaHandler(tracer, { captureResponse: false }))
  handler
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(observeRds)
    .use(requestLog(logger, metrics))
    .use(httpHeaderNormalizer())
    .use(httpSecurityHeaders(apiSecurityHeaders))
    .use(httpCors({ ...corsOptions, origins: config.corsOrigins }))
    .use(httpErrorHandler({ logger: false }))
    .use(problemDetails())
    .handler(httpRouter({ routes: table as never, notFoundResponse: methodNotAllowed(table) }) as never)
  // Middy's type adds the optional third `{ signal }` argument Lambda never passes.
  return handler as unknown as AppHandler
}
