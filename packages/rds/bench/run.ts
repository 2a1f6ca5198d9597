// Benchmarks of @rdskit/rds against what a user would otherwise write. `node bench/run.ts` (< 2 minutes).
// Everything runs against a real PostgreSQL with TLS (verify-full) and SCRAM-SHA-256 authentication.
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import middy from '@middy/core'
import { pinApart, requireSystemBinary, startPgBouncer, startPostgres } from '@rdskit/testing'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { Bench } from 'tinybench'
import { createClient, identityOf } from '../src/connection/client.ts'
import { close, rds } from '../src/index.ts'
import { resolveOptions } from '../src/options.ts'

const context = () => ({ getRemainingTimeInMillis: () => 30_000 }) as never
const role = { name: 'bench_app', password: `pw-${randomBytes(12).toString('hex')}` }
const cluster = await startPostgres({ tls: true, maxConnections: 120, roles: [role] })
const ca = cluster.ca as string
// The server on its own CPU, as on its own host: otherwise where each new backend lands decides its speed.
const pinned = cluster.pid === undefined ? undefined : pinApart([cluster.pid])
console.log(
  pinned
    ? `# PostgreSQL pinned to CPU ${pinned.server}, this process to CPU ${pinned.client}`
    : '# not pinned (one CPU or no taskset)',
)
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
  return Object.fromEntries([...samples].map(([name, xs]) => [name, median(xs)]))
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const shuffled = <T>(xs: T[]) => [...xs].sort(() => Math.random() - 0.5)
const connectPerInvocation = async (socket?: () => Promise<net.Socket>) => {
  const once = postgres({ ...target, ssl: { ca }, max: 1, ...(socket ? { socket } : {}) })
  try {
    return await once`select 1`
  } finally {
    await once.end()
  }
}
/**
 * postgres.js leaves Nagle's algorithm on: its StartupMessage, written right after the TLS Finished, waits
 * for the server's delayed ACK (~40 ms on Linux). rds sets TCP_NODELAY, as libpq does; this is the naive
 * handler with that one fix, to show what a new connection costs without the stall.
 */
const noDelaySocket = () =>
  new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true })
    socket.once('connect', () => resolve(socket)).once('error', reject)
  })
const us = (ms: number | undefined) => `${((ms ?? Number.NaN) * 1000).toFixed(0)} µs`

try {
  // 1. A warm invocation running one `select 1`, written the way each user would write it. On a small machine
  // the speed of one connection depends on where the scheduler puts its backend (two identical module-scope
  // clients differ by up to 10 %), so every round opens fresh connections for every contender, in random
  // order, and the result is the median over rounds of each round's ratio to that round's floor.
  const rounds = 24
  const perRound = new Map<string, number[]>()
  const absolute = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    const raw = postgres({ ...target, ssl: { ca }, max: 1 })
    const rawDb = drizzle(postgres({ ...target, ssl: { ca }, max: 1 }))
    const rdsDrizzle = middy()
      .use(rds({ config: target, tls: { ca }, cacheKey: `bench-rds-drizzle-${round}`, logger: quiet }))
      .handler(async (_event, ctx) => ctx.db.execute(sql`select 1`))
    const rdsClient = middy()
      .use(rds({ config: target, tls: { ca }, cacheKey: `bench-rds-client-${round}`, logger: quiet }))
      .handler(async (_event, ctx) => ctx.db.$client`select 1`)
    // The same module-scope clients handed over by a plain Middy before hook: Middy's own share of the gap.
    const hookDrizzle = middy()
      .before((request) => {
        ;(request.context as unknown as { db: typeof rawDb }).db = rawDb
      })
      .handler(async (_event, ctx) => (ctx as unknown as { db: typeof rawDb }).db.execute(sql`select 1`))
    const handingOver = (client: typeof raw) =>
      middy()
        .before((request) => {
          ;(request.context as unknown as { sql: typeof raw }).sql = client
        })
        .handler(async (_event, ctx) => (ctx as unknown as { sql: typeof raw }).sql`select 1`)
    const hookClient = handingOver(raw)
    // rds taken apart: its client (socket factory, tracking, Lambda defaults) handed over by the same plain
    // hook, without the middleware's per-invocation begin()/finish().
    const clientOptions = resolveOptions({ config: target, tls: { ca }, logger: quiet })
    const rdsClientOnly = createClient(clientOptions, {
      identity: identityOf(clientOptions.config),
      password: role.password,
    })
    const hookRdsClient = handingOver(rdsClientOnly.sql)
    // Middy's early-timeout timer (5 ms before the Lambda deadline) costs a timer and a Promise.race per
    // invocation; rds bounds every statement and connect by the remaining time itself.
    const rdsClientNoEarly = middy({ timeoutEarlyInMillis: 0 })
      .use(rds({ config: target, tls: { ca }, cacheKey: `bench-rds-no-early-${round}`, logger: quiet }))
      .handler(async (_event, ctx) => ctx.db.$client`select 1`)
    const tasks: [string, () => Promise<unknown>][] = [
      ['rds tagged, timeoutEarlyInMillis 0', () => rdsClientNoEarly({}, context())],
      ['rds drizzle', () => rdsDrizzle({}, context())],
      ['floor drizzle', () => rawDb.execute(sql`select 1`)],
      ['hook drizzle', () => hookDrizzle({}, context())],
      ['rds tagged', () => rdsClient({}, context())],
      ['floor tagged', () => raw`select 1`],
      ['hook tagged', () => hookClient({}, context())],
      ['hook rds client tagged', () => hookRdsClient({}, context())],
    ]
    for (const [, run] of shuffled(tasks)) await run()
    for (let i = 0; i < 200; i++) for (const [, run] of tasks) await run()
    const spent = new Map<string, number>()
    for (let block = 0; block < 40; block++) {
      for (const [name, run] of shuffled(tasks)) {
        const started = performance.now()
        for (let i = 0; i < 20; i++) await run()
        spent.set(name, (spent.get(name) ?? 0) + (performance.now() - started) / 20 / 40)
      }
    }
    for (const [name, ms] of spent) {
      const floor = spent.get(name.endsWith('drizzle') ? 'floor drizzle' : 'floor tagged') as number
      perRound.set(name, [...(perRound.get(name) ?? []), ms / floor])
      absolute.set(name, [...(absolute.get(name) ?? []), ms])
    }
    await raw.end()
    await rawDb.$client.end()
    await rdsClientOnly.end()
    await close()
  }
  const naive = await medians(
    [
      ['connect per invocation', () => connectPerInvocation()],
      ['connect per invocation, TCP_NODELAY', () => connectPerInvocation(noDelaySocket)],
    ],
    1,
    3_000,
  )
  const at = (name: string) => median(absolute.get(name) ?? [])
  const ratio = (name: string) => median(perRound.get(name) ?? [])
  const spread = (name: string) => {
    const xs = [...(perRound.get(name) ?? [])].sort((a, b) => a - b)
    return `${(xs[Math.floor(xs.length / 4)] ?? Number.NaN).toFixed(2)}–${(xs[Math.floor((3 * xs.length) / 4)] ?? Number.NaN).toFixed(2)}×`
  }
  const n = naive['connect per invocation'] as number
  const nNoDelay = naive['connect per invocation, TCP_NODELAY'] as number
  print(
    `## warm invocation, one \`select 1\` over TLS (verify-full) + SCRAM-SHA-256 (${rounds} rounds of fresh connections)`,
  )
  print(`rds, drizzle db.execute:                ${us(at('rds drizzle'))}`)
  print(`module-scope drizzle over postgres.js:  ${us(at('floor drizzle'))}`)
  print(`middy + plain hook, same drizzle:       ${us(at('hook drizzle'))}`)
  print(`rds, db.$client tagged query:           ${us(at('rds tagged'))}`)
  print(`module-scope postgres.js tagged query:  ${us(at('floor tagged'))}`)
  print(`middy + plain hook, same tagged query:  ${us(at('hook tagged'))}`)
  print(`middy + plain hook, rds's client only:  ${us(at('hook rds client tagged'))}`)
  print(`rds tagged, middy timeoutEarlyInMillis 0: ${us(at('rds tagged, timeoutEarlyInMillis 0'))}`)
  print(`connect per invocation (naive handler): ${us(n)}`)
  print(
    `connect per invocation, TCP_NODELAY:    ${us(nNoDelay)} (postgres.js's own socket waits ~40 ms on a delayed ACK)`,
  )
  print(`ratio connect-per-invocation / rds:     ${(n / at('rds tagged')).toFixed(1)}× faster`)
  print(`ratio the same with TCP_NODELAY / rds:  ${(nNoDelay / at('rds tagged')).toFixed(1)}× faster`)
  print(
    `ratio rds / module-scope, same query:   ${ratio('rds drizzle').toFixed(2)}× drizzle (${spread('rds drizzle')}), ${ratio('rds tagged').toFixed(2)}× tagged (${spread('rds tagged')}) (target ≤ 1.1×; median and quartiles of per-round ratios)`,
  )
  print(
    `ratio rds tagged, middy timeoutEarlyInMillis 0 / module-scope: ${ratio('rds tagged, timeoutEarlyInMillis 0').toFixed(2)}× (${spread('rds tagged, timeoutEarlyInMillis 0')})`,
  )
  print(
    `ratio middy + plain hook / module-scope: ${ratio('hook drizzle').toFixed(2)}× drizzle (${spread('hook drizzle')}), ${ratio('hook tagged').toFixed(2)}× tagged (${spread('hook tagged')})`,
  )
  print(
    `ratio middy + plain hook with rds's client only / module-scope: ${ratio('hook rds client tagged').toFixed(2)}× tagged (${spread('hook rds client tagged')}); the rest of rds tagged is its begin()/finish() and middleware`,
  )

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
