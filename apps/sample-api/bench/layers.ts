/**
 * Where the warm GET /notes/{id} time goes: the handler invoked in a tight in-process loop (one request at
 * a time, a prebuilt API Gateway v2 event, a reused Lambda context), one layer added per row.
 *   CPU rows: the route answers a fixed note (no database), so each row's delta is that layer's CPU cost.
 *   Database rows: the same query through raw postgres.js, drizzle, rds(), and the whole app.
 * `node bench/layers.ts` on its own starts PostgreSQL and the KMS endpoint; bench/run.ts calls
 * `measureLayers` with its own. LAYERS_ITERATIONS (default 3000; half for database rows) per row
 * and round, LAYERS_ROUNDS (5) rounds in rotating order, median reported.
 */
import middy, { type MiddlewareObj } from '@middy/core'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpRouter from '@middy/http-router'
import httpSecurityHeaders from '@middy/http-security-headers'
import kmsEnv from '@rdskit/kms-env'
import rds from '@rdskit/rds'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { apiSecurityHeaders, corsOptions, createApp, dbConnection } from '../src/app.ts'
import { configFromEnv } from '../src/config.ts'
import * as schema from '../src/db/schema.ts'
import { problemDetails } from '../src/http/errors.ts'
import { requestLog } from '../src/http/request-log.ts'
import { json } from '../src/http/response.ts'
import { validate } from '../src/http/validation.ts'
import { lambdaContext, toEventV2 } from '../src/local/events.ts'
import { findNote } from '../src/notes/repository.ts'
import { emptyQuery, noteIdPath } from '../src/notes/schemas.ts'
import { present } from '../src/routes/notes.ts'
import { connect, routes as rawRoutes } from './raw-handler.ts'
import type { BenchSetup } from './setup.ts'
import { sinkObservability } from './sink.ts'

type Fn = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>
interface Row {
  name: string
  fn: Fn
  db: boolean
}

const iterations = Number(process.env.LAYERS_ITERATIONS ?? 3000)
const roundsOf = Number(process.env.LAYERS_ROUNDS ?? 5)

export const measureLayers = async (bench: BenchSetup) => {
  Object.assign(process.env, bench.env)
  const config = configFromEnv(process.env)
  const kmsClientOptions = {
    endpoint: bench.kms.url,
    region: bench.kms.region,
    credentials: bench.kms.credentials,
  }
  const note = {
    id: bench.seed,
    slug: null,
    title: 'bench',
    body: 'body',
    tags: ['a', 'b'],
    version: 1,
    createdAt: new Date(),
    updatedAt: new Date(),
  }
  // The fixed answer of the CPU rows: what getNote returns, minus the query.
  const fixed = async () => json(200, present(note), { ETag: '"1"' })

  // Each CPU row is the previous one plus one layer, in the app's .use() order.
  const layers: [string, () => MiddlewareObj][] = [
    [
      '+ request log (Powertools JSON line, per-request metrics)',
      () => {
        const { logger, metrics } = sinkObservability('info')
        return requestLog(logger, metrics) as MiddlewareObj
      },
    ],
    ['+ http-header-normalizer', () => httpHeaderNormalizer() as MiddlewareObj],
    ['+ http-security-headers', () => httpSecurityHeaders(apiSecurityHeaders) as MiddlewareObj],
    ['+ http-cors', () => httpCors({ ...corsOptions, origins: config.corsOrigins }) as MiddlewareObj],
    ['+ http-error-handler', () => httpErrorHandler({ logger: false }) as MiddlewareObj],
    ['+ problemDetails (onError only)', () => problemDetails()],
    [
      '+ kms-env (cached password)',
      () =>
        kmsEnv({
          fetchData: { dbPassword: 'DB_PASSWORD' },
          cacheKey: `layers-kms-${Math.random()}`,
          awsClientOptions: kmsClientOptions,
        }) as unknown as MiddlewareObj,
    ],
  ]
  const stack = (n: number) => {
    const m = middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    for (const [, make] of layers.slice(0, n)) m.use(make() as never)
    return m
  }
  const routeTable = (withValidation: boolean, handler: unknown = fixed) => [
    {
      method: 'GET' as const,
      path: '/notes/{id}',
      handler: middy<APIGatewayProxyEventV2>({ timeoutEarlyInMillis: 0 })
        .use(withValidation ? [validate({ path: noteIdPath, query: emptyQuery })] : [])
        .handler(handler as never),
    },
  ]

  const rows: Row[] = [
    { name: 'bare async handler (fixed note)', fn: fixed, db: false },
    { name: 'middy() core, no middlewares', fn: middy().handler(fixed as never) as unknown as Fn, db: false },
  ]
  for (let n = 1; n <= layers.length; n++) {
    rows.push({
      name: layers[n - 1]?.[0] ?? '',
      fn: stack(n).handler(fixed as never) as unknown as Fn,
      db: false,
    })
  }
  for (const [name, withValidation] of [
    ['+ http-router → route middy()', false],
    ['+ valibot (path uuid, empty query)', true],
  ] as const) {
    const router = httpRouter({ routes: routeTable(withValidation) as never })
    rows.push({ name, fn: stack(layers.length).handler(router as never) as unknown as Fn, db: false })
  }

  const context = lambdaContext({
    functionName: bench.env.AWS_LAMBDA_FUNCTION_NAME ?? 'bench',
    region: bench.kms.region,
    accountId: '123456789012',
    memoryLimitInMB: 1024,
    timeoutMs: 3_600_000,
  })
  // Database rows: one connection each, like one Lambda container.
  const fromDb = async (_event: unknown, context: { db: typeof db }) => {
    const row = await findNote(context.db, bench.seed)
    return json(200, present(row as typeof note), { ETag: '"1"' })
  }
  const rawSql = connect(bench.config.password)
  const plainSql = postgres({ ...bench.config, ssl: { ca: bench.ca }, max: 1 })
  const db = drizzle(plainSql, { schema })
  const rdsMiddleware = (cacheKey: string) =>
    rds({
      schema,
      config: dbConnection(config),
      internalData: { password: 'dbPassword' },
      tls: { ca: bench.ca },
      cacheKey,
      logger: { warn: () => {} },
    }) as unknown as MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, Context>
  const rdsStack = middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .before((request) => {
      ;(request.internal as Record<string, unknown>).dbPassword = bench.config.password
    })
    .use(rdsMiddleware('layers-rds'))
    .handler(fromDb as never) as unknown as Fn
  // rds() taken apart: its hooks called directly (no Middy), and its drizzle instance without the hooks.
  const bare = rdsMiddleware('layers-rds-bare')
  const hookRequest = () =>
    ({ event: {}, context: { ...context }, internal: { dbPassword: bench.config.password } }) as never
  const warmUp = hookRequest() as { context: { db: typeof db } }
  await bare.before?.(warmUp as never)
  bare.after?.(warmUp as never)
  const rdsDb = warmUp.context.db
  // The CPU rows' whole stack with rds() in kms-env's place feeding the route its drizzle instance.
  const composed = stack(layers.length - 1)
    .before((request) => {
      ;(request.internal as Record<string, unknown>).dbPassword = bench.config.password
    })
    .use(rdsMiddleware('layers-rds-composed'))
    .handler(httpRouter({ routes: routeTable(true, fromDb) as never }) as never) as unknown as Fn
  const app = (level: 'info' | 'silent', key: string) =>
    createApp({
      config,
      kmsClientOptions,
      cacheKey: key,
      observability: sinkObservability(level),
    }) as unknown as Fn
  rows.push(
    {
      name: 'raw handler (bench/raw-handler.ts: postgres.js)',
      fn: rawRoutes(() => rawSql) as unknown as Fn,
      db: true,
    },
    {
      name: 'postgres.js query only',
      fn: async () => (await rawSql`select * from notes where id = ${bench.seed}`)[0],
      db: true,
    },
    {
      name: 'drizzle query builder per request (query only)',
      fn: () => db.select().from(schema.notes).where(eq(schema.notes.id, bench.seed)),
      db: true,
    },
    { name: 'drizzle prepared statement (query only)', fn: () => findNote(db, bench.seed), db: true },
    {
      name: "drizzle prepared + the app's rendering (present, ETag, JSON)",
      fn: () => fromDb(undefined, { db }),
      db: true,
    },
    {
      name: '+ middy() core (context.db set by a before hook)',
      fn: middy()
        .before((request) => {
          ;(request.context as unknown as { db: typeof db }).db = db
        })
        .handler(fromDb as never) as unknown as Fn,
      db: true,
    },
    { name: 'middy() + rds() (instead of that hook)', fn: rdsStack, db: true },
    {
      name: 'rds() hooks alone (before + after, no query, no Middy)',
      fn: async () => {
        const request = hookRequest()
        await bare.before?.(request)
        bare.after?.(request)
      },
      db: true,
    },
    {
      name: "rds()'s drizzle instance without its hooks (query wrappers only) + rendering",
      fn: () => fromDb(undefined, { db: rdsDb }),
      db: true,
    },
    { name: "+ the CPU rows' layers, router, valibot", fn: composed, db: true },
    { name: 'full app (createApp), access log on', fn: app('info', 'layers-app-info'), db: true },
    {
      name: 'full app, access log off (POWERTOOLS_LOG_LEVEL=SILENT)',
      fn: app('silent', 'layers-app-silent'),
      db: true,
    },
  )

  // LAYERS_ONLY=<text>[,<text>…]: measure only the rows whose name contains one of them (for `node --cpu-prof`).
  const only = process.env.LAYERS_ONLY?.split(',')
  if (only) rows.splice(0, rows.length, ...rows.filter((r) => only.some((text) => r.name.includes(text))))
  const template = toEventV2(
    {
      method: 'GET',
      url: `/notes/${bench.seed}`,
      headers: { host: 'bench', 'user-agent': 'layers' },
      body: Buffer.alloc(0),
      sourceIp: '127.0.0.1',
    },
    { accountId: '123456789012', apiId: 'bench', stage: '$default' },
  )
  // A fresh event per invocation (middlewares replace its parts), cloned the same way for every row.
  const eventOf = () => ({ ...template, headers: { ...template.headers } })

  const results = new Map<Row, number[]>()
  // Process CPU (user + system): what caps throughput when the server is busy; PostgreSQL's is not in it.
  const cpuResults = new Map<Row, number[]>()
  for (const row of rows) {
    // Warm-up: connects, prepares, decrypts, lets the JIT settle; also checks the row answers 200.
    for (let i = 0; i < 300; i++) {
      const out = (await row.fn(eventOf(), context)) as { statusCode?: number } | undefined
      if (out && typeof out === 'object' && 'statusCode' in out && out.statusCode !== 200)
        throw new Error(`${row.name} answered ${out.statusCode}`)
    }
    results.set(row, [])
    cpuResults.set(row, [])
  }
  for (let round = 0; round < roundsOf; round++) {
    // Rotate the order each round so drift on a shared machine does not favour the rows measured first.
    const shift = (round * 7) % rows.length
    for (const row of [...rows.slice(shift), ...rows.slice(0, shift)]) {
      const n = row.db ? Math.ceil(iterations / 2) : iterations
      const started = performance.now()
      const cpu = process.cpuUsage()
      for (let i = 0; i < n; i++) await row.fn(eventOf(), context)
      const used = process.cpuUsage(cpu)
      results.get(row)?.push(((performance.now() - started) * 1000) / n)
      cpuResults.get(row)?.push((used.user + used.system) / n)
    }
  }
  await rawSql.end()
  await plainSql.end()

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  const lines = [
    '| layer (GET /notes/{id}, one request at a time, in process) | wall µs / request | Δ | CPU µs / request | Δ |',
    '|---|---:|---:|---:|---:|',
  ]
  let previous: Row | undefined
  for (const row of rows) {
    const wall = median(results.get(row) ?? [])
    const cpu = median(cpuResults.get(row) ?? [])
    // Deltas only down the CPU rows, where each row adds one layer to the previous one.
    const chained = previous !== undefined && !row.db && !previous.db
    const delta = (now: number, map: Map<Row, number[]>) =>
      chained && previous ? (now - median(map.get(previous) ?? [])).toFixed(1) : ''
    lines.push(
      `| ${row.name} | ${wall.toFixed(1)} | ${delta(wall, results)} | ${cpu.toFixed(1)} | ${delta(cpu, cpuResults)} |`,
    )
    previous = row
  }
  return lines.join('\n')
}

if (import.meta.main) {
  const { setup } = await import('./setup.ts')
  const bench = await setup()
  try {
    process.stdout.write(`${await measureLayers(bench)}\n`)
  } finally {
    await bench.stop()
  }
  process.exit(0)
}
