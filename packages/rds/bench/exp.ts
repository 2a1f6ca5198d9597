import { randomBytes } from 'node:crypto'
import middy from '@middy/core'
import { startPostgres } from '@rdskit/testing'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { Bench } from 'tinybench'
import { close, rds } from '../src/index.ts'

const role = { name: 'bench_app', password: `pw-${randomBytes(12).toString('hex')}` }
const cluster = await startPostgres({ tls: true, roles: [role] })
const ca = cluster.ca as string
const target = {
  host: cluster.host,
  port: cluster.port,
  database: cluster.database,
  username: role.name,
  password: role.password,
}
const ctx = () => ({ getRemainingTimeInMillis: () => 30_000 }) as never
const h1 = middy()
  .use(rds({ config: target, tls: { ca }, cacheKey: 'a', logger: { warn() {} } }))
  .handler(async (_e, c) => c.db.execute(sql`select 1`))
const h2 = middy()
  .use(rds({ config: target, tls: { ca }, cacheKey: 'b', logger: { warn() {} } }))
  .handler(async (_e, c) => c.db.$client`select 1`)
const raw = postgres({ ...target, ssl: { ca }, max: 1 })
const rawDb = drizzle(raw)
const raw3 = postgres({ ...target, ssl: { ca }, max: 1 })
await h1({}, ctx())
await h2({}, ctx())
await raw`select 1`
await rawDb.execute(sql`select 1`)
await raw3`select 1`
const tasks: [string, () => Promise<unknown>][] = [
  ['rds drizzle execute', () => h1({}, ctx())],
  ['rds $client tagged', () => h2({}, ctx())],
  ['raw tagged', () => raw3`select 1`],
  ['raw drizzle execute', () => rawDb.execute(sql`select 1`)],
]
const r: Record<string, number[]> = {}
for (let i = 0; i < 8; i++) {
  const b = new Bench({ time: 300, warmupTime: 30 })
  const order = i % 2 ? [...tasks].reverse() : tasks
  for (const [n, f] of order) b.add(n, f)
  await b.run()
  for (const t of b.tasks) (r[t.name] ??= []).push((t.result as any).latency.mean * 1000)
}
for (const [n, xs] of Object.entries(r))
  console.log(n, xs.sort((a, b) => a - b)[4]?.toFixed(0), 'µs', xs.map((x) => x.toFixed(0)).join(' '))
await raw.end()
await raw3.end()
await close()
await cluster.stop()
