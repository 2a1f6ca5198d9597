// Benchmarks of @rdskit/rds against what a user would otherwise write. `node bench/run.ts` (< 2 minutes).
// Everything runs against a real PostgreSQL with TLS (verify-full) and SCRAM-SHA-256 authentication.
import { randomBytes } from 'node:crypto'
import middy from '@middy/core'
import { requireSystemBinary, startPgBouncer, startPostgres } from '@rdskit/testing'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { Bench } from 'tinybench'
import { close, rds } from '../src/index.ts'

const context = () => ({ getRemainingTimeInMillis: () => 30_000 }) as never
const role = { name: 'bench_app', password: `pw-${randomBytes(12).toString('hex')}` }
const cluster = await startPostgres({ tls: true, maxConnections: 120, roles: [role] })
const ca = cluster.ca as string
const target = {
  host: cluster.host,
  port: cluster.port,
  database: cluster.database,
  username: role.name,
  password: role.password,
}
const quiet = { warn() {} }
const results: string[] = []
const print = (line: string) => {
  results.push(line)
  console.log(line)
}

/** Median (over alternating rounds) of each task's mean latency in ms: the machine may be shared. */
async function medians(tasks: [string, () => unknown][], rounds: number, timeMs: number) {
  const samples = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: timeMs, warmupTime: Math.min(100, timeMs / 4) })
    const order = [...tasks].sort(() => Math.random() - 0.5)
    for (const [name, fn] of order) bench.add(name, fn)
    await bench.run()
    for (const task of bench.tasks) {
      const result = task.result as { latency?: { mean: number } }
      samples.set(task.name, [...(samples.get(task.name) ?? []), result.latency?.mean ?? Number.NaN])
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
  return Object.fromEntries([...samples].map(([name, xs]) => [name, median(xs)]))
}

const us = (ms: number | undefined) => `${((ms ?? Number.NaN) * 1000).toFixed(0)} µs`

try {
  // 1. A warm invocation running one `select 1`, written the way each user would write it.
  const rdsDrizzle = middy()
    .use(rds({ config: target, tls: { ca }, cacheKey: 'bench-rds-drizzle', logger: quiet }))
    .handler(async (_event, ctx) => ctx.db.execute(sql`select 1`))
  const rdsClient = middy()
    .use(rds({ config: target, tls: { ca }, cacheKey: 'bench-rds-client', logger: quiet }))
    .handler(async (_event, ctx) => ctx.db.$client`select 1`)
  const raw = postgres({ ...target, ssl: { ca }, max: 1 })
  const rawDb = drizzle(postgres({ ...target, ssl: { ca }, max: 1 }))
  // The same module-scope clients handed over by a plain Middy before hook: Middy's own share of the gap.
  const hookDrizzle = middy()
    .before((request) => {
      ;(request.context as unknown as { db: typeof rawDb }).db = rawDb
    })
    .handler(async (_event, ctx) => (ctx as unknown as { db: typeof rawDb }).db.execute(sql`select 1`))
  const hookClient = middy()
    .before((request) => {
      ;(request.context as unknown as { sql: typeof raw }).sql = raw
    })
    .handler(async (_event, ctx) => (ctx as unknown as { sql: typeof raw }).sql`select 1`)
  const connectPerInvocation = async () => {
    const once = postgres({ ...target, ssl: { ca }, max: 1 })
    try {
      return await once`select 1`
    } finally {
      await once.end()
    }
  }
  const warm = {
    ...(await medians(
      [
        ['rds, drizzle db.execute', () => rdsDrizzle({}, context())],
        ['module-scope drizzle over postgres.js', () => rawDb.execute(sql`select 1`)],
        ['middy + plain hook, module-scope drizzle', () => hookDrizzle({}, context())],
      ],
      15,
      200,
    )),
    ...(await medians(
      [
        ['rds, db.$client tagged query', () => rdsClient({}, context())],
        ['module-scope postgres.js tagged query', () => raw`select 1`],
        ['middy + plain hook, module-scope tagged', () => hookClient({}, context())],
      ],
      15,
      200,
    )),
  }
  const naive = await medians([['connect per invocation', connectPerInvocation]], 1, 3_000)
  const r = warm['rds, drizzle db.execute'] as number
  const floorDrizzle = warm['module-scope drizzle over postgres.js'] as number
  const rc = warm['rds, db.$client tagged query'] as number
  const floorRaw = warm['module-scope postgres.js tagged query'] as number
  const hookD = warm['middy + plain hook, module-scope drizzle'] as number
  const hookC = warm['middy + plain hook, module-scope tagged'] as number
  const n = naive['connect per invocation'] as number
  print('## warm invocation, one `select 1` over TLS (verify-full) + SCRAM-SHA-256')
  print(`rds, drizzle db.execute:                ${us(r)}`)
  print(`module-scope drizzle over postgres.js:  ${us(floorDrizzle)}`)
  print(`middy + plain hook, same drizzle:       ${us(hookD)}`)
  print(`rds, db.$client tagged query:           ${us(rc)}`)
  print(`module-scope postgres.js tagged query:  ${us(floorRaw)}`)
  print(`middy + plain hook, same tagged query:  ${us(hookC)}`)
  print(`connect per invocation (naive handler): ${us(n)}`)
  print(`ratio connect-per-invocation / rds:     ${(n / r).toFixed(1)}× faster (target ≥ 5×)`)
  print(
    `ratio rds / module-scope, same query:   ${(r / floorDrizzle).toFixed(2)}× (drizzle), ${(rc / floorRaw).toFixed(2)}× (tagged) (target ≤ 1.1×)`,
  )
  print(
    `ratio rds / middy + plain hook:         ${(r / hookD).toFixed(2)}× (drizzle), ${(rc / hookC).toFixed(2)}× (tagged)`,
  )
  await raw.end()
  await rawDb.$client.end()

  // 2. The middleware's own warm cost, the query excluded.
  const bare = middy().handler(async () => 1)
  const withMiddleware = middy()
    .use(rds({ config: target, tls: { ca }, cacheKey: 'bench-overhead', logger: quiet }))
    .handler(async () => 1)
  await withMiddleware({}, context())
  const overhead = await medians(
    [
      ['bare middy', () => bare({}, context())],
      ['middy + rds', () => withMiddleware({}, context())],
    ],
    6,
    300,
  )
  const bareNs = (overhead['bare middy'] as number) * 1e6
  const rdsNs = (overhead['middy + rds'] as number) * 1e6
  print('## warm overhead of the middleware, query excluded')
  print(`bare middy:             ${bareNs.toFixed(0)} ns/invocation`)
  print(`middy + rds (no query): ${rdsNs.toFixed(0)} ns/invocation`)
  print(
    `rds overhead:           ${(rdsNs - bareNs).toFixed(0)} ns/invocation (${(rdsNs / bareNs).toFixed(2)}× bare middy)`,
  )
  await close()

  // 3. Server connections held by 50 concurrent containers (each its own rds client, kept warm).
  const containers = (port: number, host: string, pooler: boolean, label: string) =>
    Array.from({ length: 50 }, (_, i) =>
      middy()
        .use(
          rds({
            config: { ...target, host, port },
            tls: pooler ? false : { ca },
            pooler,
            cacheKey: `bench-${label}-${i}`,
            logger: quiet,
          }),
        )
        .handler(async (_event, ctx) => ctx.db.execute(sql`select pg_sleep(0.02)`)),
    )
  const direct = containers(cluster.port, cluster.host, false, 'direct')
  await Promise.all(direct.map((h) => h({}, context())))
  const directHeld = (await cluster.sessions({ user: role.name })).length
  await close()
  print('## server connections held by 50 concurrent warm containers')
  print(`without a pooler:       ${directHeld} (one per container)`)
  if (requireSystemBinary('pgbouncer')) {
    const poolSize = 5
    const bouncer = await startPgBouncer({
      upstream: {
        host: cluster.host,
        port: cluster.port,
        user: cluster.user,
        password: cluster.password,
        ca,
      },
      users: [role],
      poolMode: 'transaction',
      poolSize,
    })
    try {
      const pooled = containers(bouncer.port, bouncer.host, true, 'pooled')
      await Promise.all(pooled.map((h) => h({}, context())))
      const pooledHeld = (await cluster.sessions({ user: role.name })).length
      print(
        `behind PgBouncer:       ${pooledHeld} (pool size ${poolSize}; ratio ${(directHeld / Math.max(1, pooledHeld)).toFixed(0)}× fewer)`,
      )
      await close()
    } finally {
      await bouncer.stop()
    }
  }
} finally {
  await close()
  await cluster.stop()
}
