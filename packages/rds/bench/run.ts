// Benchmarks of @rdskit/rds against what a user would otherwise write. `node bench/run.ts` (< 2 minutes).
// Everything runs against a real PostgreSQL with TLS (verify-full) and SCRAM-SHA-256 authentication.
import { randomBytes } from 'node:crypto'
import middy from '@middy/core'
import { requireSystemBinary, startPgBouncer, startPostgres } from '@rdskit/testing'
import { sql } from 'drizzle-orm'
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

try {
  // 1. A warm invocation running one `select 1`.
  const withRds = middy()
    .use(rds({ config: target, tls: { ca }, cacheKey: 'bench-rds', logger: quiet }))
    .handler(async (_event, ctx) => ctx.db.execute(sql`select 1`))
  const raw = postgres({ ...target, ssl: { ca }, max: 1 })
  const rawHandler = async () => raw`select 1`
  const connectPerInvocation = async () => {
    const once = postgres({ ...target, ssl: { ca }, max: 1 })
    try {
      return await once`select 1`
    } finally {
      await once.end()
    }
  }
  await withRds({}, context())
  await rawHandler()

  // The machine is shared: alternate the fast tasks in short rounds and take the median of the round means.
  const fast: [string, () => Promise<unknown>][] = [
    ['rds (reused connection)', () => withRds({}, context())],
    ['raw postgres.js at module scope (floor)', rawHandler],
  ]
  const rounds: Record<string, number[]> = {}
  for (let round = 0; round < 8; round++) {
    const bench = new Bench({ time: 400, warmupTime: 50 })
    for (const [name, fn] of round % 2 ? [...fast].reverse() : fast) bench.add(name, fn)
    await bench.run()
    for (const task of bench.tasks) {
      const latency = (task.result as { latency?: { mean: number } }).latency?.mean ?? Number.NaN
      rounds[task.name] = [...(rounds[task.name] ?? []), latency]
    }
  }
  const naive = new Bench({ time: 3_000, warmupTime: 200 })
  naive.add('connect per invocation', connectPerInvocation)
  await naive.run()
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  const mean = (name: string) => {
    if (rounds[name]) return median(rounds[name])
    const result = naive.tasks.find((t) => t.name === name)?.result as
      | { latency?: { mean: number } }
      | undefined
    return result?.latency?.mean ?? Number.NaN
  }
  const rdsMs = mean('rds (reused connection)')
  const rawMs = mean('raw postgres.js at module scope (floor)')
  const naiveMs = mean('connect per invocation')
  print('## warm invocation, one `select 1` over TLS (verify-full) + SCRAM')
  print(`rds (reused connection):                 ${(rdsMs * 1000).toFixed(0)} µs/invocation`)
  print(`raw postgres.js at module scope (floor): ${(rawMs * 1000).toFixed(0)} µs/invocation`)
  print(`connect per invocation:                  ${(naiveMs * 1000).toFixed(0)} µs/invocation`)
  print(`ratio connect-per-invocation / rds:      ${(naiveMs / rdsMs).toFixed(1)}× (target ≥ 5×)`)
  print(`ratio rds / raw floor:                   ${(rdsMs / rawMs).toFixed(3)}× (target ≤ 1.1×)`)
  await raw.end()

  // 2. The middleware's own warm cost, the query excluded.
  const bare = middy().handler(async () => 1)
  const withMiddleware = middy()
    .use(rds({ config: target, tls: { ca }, cacheKey: 'bench-overhead', logger: quiet }))
    .handler(async () => 1)
  await withMiddleware({}, context())
  const overhead = new Bench({ time: 2_000, warmupTime: 300 })
  overhead.add('bare middy', () => bare({}, context()))
  overhead.add('middy + rds (no query)', () => withMiddleware({}, context()))
  await overhead.run()
  const ns = (name: string) =>
    ((overhead.tasks.find((t) => t.name === name)?.result as { latency?: { mean: number } }).latency?.mean ??
      Number.NaN) * 1e6
  const bareNs = ns('bare middy')
  const rdsNs = ns('middy + rds (no query)')
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
