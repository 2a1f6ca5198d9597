/**
 * `pnpm bench`: the full Middy stack (kms-env + rds + drizzle + Middy's http middlewares + validation +
 * problem+json + JSON logs) against a raw module-scope postgres.js handler, both as deployed bundles,
 * both behind the local API Gateway v2 adapter, each in its own process.
 *   1. throughput with autocannon, 10 connections: GET /notes/{id} and POST /notes (target ≥ 90 %)
 *   2. bundle size (target ≤ 450 KB) and cold start: import the bundle + answer the first request in a
 *      fresh process (target ≤ 1.2× the raw handler)
 * Prints every number and the ratios. About a minute on two cores.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { migrate } from '@rdskit/rds'
import { startKms, startPostgres } from '@rdskit/testing'
import autocannon from 'autocannon'
import { build } from 'esbuild'
import { esbuildSettings } from '../infra/bundling.ts'
import { bundle } from '../scripts/bundle.ts'
import { appDir } from '../src/local/paths.ts'

const seconds = Number(process.env.BENCH_SECONDS ?? 4)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const coldRuns = Number(process.env.BENCH_COLD_RUNS ?? 7)
const functionName = 'rdskit-bench'
const say = (s: string) => process.stdout.write(`${s}\n`)

// ---- bundles -------------------------------------------------------------------------------------
const out = mkdtempSync(join(tmpdir(), 'rdskit-bench-'))
const sizes = await bundle(join(out, 'full'))
const fullBundle = join(out, 'full', 'api', 'index.mjs')
const rawBundle = join(out, 'raw', 'index.mjs')
const rawKmsBundle = join(out, 'raw-kms', 'index.mjs')
for (const [entry, outfile] of [
  ['raw-handler.ts', rawBundle],
  ['raw-kms-handler.ts', rawKmsBundle],
]) {
  await build({
    ...esbuildSettings,
    banner: { js: esbuildSettings.banner },
    entryPoints: [join(appDir, 'bench', entry as string)],
    outfile,
    logLevel: 'warning',
  })
}
const bytes = { full: sizes.api ?? 0, raw: statSync(rawBundle).size, rawKms: statSync(rawKmsBundle).size }

// ---- database, KMS, ciphertext -------------------------------------------------------------------
const cluster = await startPostgres({ throwaway: true })
const kms = await startKms({ aliases: ['alias/rdskit-bench'] })
const children = new Set<ChildProcess>()
const cleanup = async () => {
  for (const c of children) c.kill('SIGKILL')
  await kms.stop()
  await cluster.stop()
  rmSync(out, { recursive: true, force: true })
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)))

const password = randomBytes(18).toString('base64url')
await cluster.createRole({ name: 'app', password })
await cluster.sql.unsafe('create database app owner app')
const config = { host: cluster.host, port: cluster.port, database: 'app', username: 'app', password }
await migrate({ config, tls: false, migrationsFolder: join(appDir, 'drizzle') })
const client = new KMSClient({ endpoint: kms.url, region: kms.region, credentials: kms.credentials })
const { CiphertextBlob } = await client.send(
  new EncryptCommand({
    KeyId: 'alias/rdskit-bench',
    Plaintext: Buffer.from(password),
    EncryptionContext: { LambdaFunctionName: functionName },
  }),
)
client.destroy()

const env = {
  ...process.env,
  AWS_LAMBDA_FUNCTION_NAME: functionName,
  AWS_REGION: kms.region,
  AWS_ACCESS_KEY_ID: kms.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: kms.credentials.secretAccessKey,
  AWS_ENDPOINT_URL_KMS: kms.url,
  DB_HOST: cluster.host,
  DB_PORT: String(cluster.port),
  DB_NAME: 'app',
  DB_USER: 'app',
  DB_PASSWORD: Buffer.from(CiphertextBlob as Uint8Array).toString('base64'),
  DB_PASSWORD_PLAINTEXT: password,
  DB_TLS: 'disable',
  LOG_LEVEL: 'info',
  NODE_NO_WARNINGS: '1',
}
const child = join(appDir, 'bench', 'child.ts')
const seed = await cluster.sql`select 1`.then(async () => {
  const appSql = (await import('postgres')).default({ ...config, max: 1 })
  const [row] =
    await appSql`insert into notes (title, body, tags) values ('bench', 'body', '{a,b}') returning id`
  await appSql.end()
  return row?.id as string
})

// ---- throughput ----------------------------------------------------------------------------------
const serve = (bundlePath: string) =>
  new Promise<{ url: string; proc: ChildProcess }>((resolve, reject) => {
    // The access log goes to /dev/null: its cost (serialising and writing the line) stays measured.
    const proc = spawn(process.execPath, [child, 'serve', bundlePath], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    children.add(proc)
    let buf = ''
    proc.stderr?.on('data', (d: Buffer) => {
      buf += d
      const url = /listening (http:\/\/[\d.:]+)/.exec(buf)?.[1]
      if (url) resolve({ url, proc })
    })
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })

const load = async (
  url: string,
  path: string,
  method: 'GET' | 'POST',
  duration: number,
  connections: number,
) => {
  const result = await autocannon({
    url: `${url}${path}`,
    method,
    connections,
    duration,
    ...(method === 'POST'
      ? {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ title: 'load', body: 'autocannon', tags: ['bench'] }),
        }
      : {}),
  })
  const ok = result['2xx']
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${method} ${path}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  return { rps: ok / duration, p50: result.latency.p50, p99: result.latency.p99 }
}

// 10 connections (the target); plus GET with 1 connection: one request at a time, as one Lambda
// container sees them, where postgres.js cannot coalesce concurrent queries into one write.
const endpoints = [
  { name: 'GET /notes/{id}', path: `/notes/${seed}`, method: 'GET' as const, connections: 10 },
  { name: 'POST /notes', path: '/notes', method: 'POST' as const, connections: 10 },
  { name: 'GET /notes/{id}, 1 connection', path: `/notes/${seed}`, method: 'GET' as const, connections: 1 },
]
const servers = { full: await serve(fullBundle), raw: await serve(rawBundle) }
const throughput: Record<string, { full: number[]; raw: number[]; p99: { full: number; raw: number } }> = {}
for (const e of endpoints) {
  const row = { full: [] as number[], raw: [] as number[], p99: { full: 0, raw: 0 } }
  for (const impl of ['full', 'raw'] as const)
    await load(servers[impl].url, e.path, e.method, 1, e.connections) // warm-up
  // Alternate the subjects so drift on a shared machine hits both alike.
  for (let r = 0; r < rounds; r++) {
    for (const impl of r % 2 ? (['raw', 'full'] as const) : (['full', 'raw'] as const)) {
      const m = await load(servers[impl].url, e.path, e.method, seconds, e.connections)
      row[impl].push(m.rps)
      row.p99[impl] = Math.max(row.p99[impl], m.p99)
    }
  }
  throughput[e.name] = row
}
for (const s of Object.values(servers)) s.proc.kill('SIGTERM')

// ---- cold start ----------------------------------------------------------------------------------
const cold = (bundlePath: string) =>
  new Promise<{ status: number; importMs: number; totalMs: number }>((resolve, reject) => {
    const proc = spawn(process.execPath, [child, 'cold', bundlePath, `/notes/${seed}`], {
      env: { ...env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let buf = ''
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d
    })
    proc.once('exit', (code) => {
      const line = buf.split('\n').find((l) => l.startsWith('{"status"'))
      if (code !== 0 || !line) reject(new Error(`cold run exited ${code}: ${buf}`))
      else resolve(JSON.parse(line))
    })
  })
const subjects = { full: fullBundle, raw: rawBundle, rawKms: rawKmsBundle } as const
type Subject = keyof typeof subjects
const coldTimes: Record<Subject, { total: number[]; import: number[] }> = {
  full: { total: [], import: [] },
  raw: { total: [], import: [] },
  rawKms: { total: [], import: [] },
}
for (let i = 0; i < coldRuns; i++) {
  for (const subject of Object.keys(subjects) as Subject[]) {
    const run = await cold(subjects[subject])
    if (run.status !== 200) throw new Error(`cold start of ${subject} answered ${run.status}`)
    coldTimes[subject].total.push(run.totalMs)
    coldTimes[subject].import.push(run.importMs)
  }
}
await cleanup()

// ---- report --------------------------------------------------------------------------------------
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const pct = (x: number) => `${(x * 100).toFixed(1)} %`
say('\n## Throughput (local adapter, autocannon, one DB connection each)\n')
say('| route | full Middy stack req/s | raw postgres.js req/s | full / raw | p99 full / raw (ms) |')
say('|---|---:|---:|---:|---:|')
for (const [name, row] of Object.entries(throughput)) {
  const f = median(row.full)
  const r = median(row.raw)
  say(
    `| ${name} | ${f.toFixed(0)} | ${r.toFixed(0)} | ${pct(f / r)} (target ≥ 90 %) | ${row.p99.full} / ${row.p99.raw} |`,
  )
}
say('\n## Cold start (fresh process: import the bundle, answer GET /notes/{id})\n')
say('| | full Middy stack | raw postgres.js | full / raw | raw + console KMS decrypt | full / raw+KMS |')
say('|---|---:|---:|---:|---:|---:|')
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`
say(
  `| bundle size (minified, AWS SDK included) | ${kib(bytes.full)} | ${kib(bytes.raw)} | ${(bytes.full / bytes.raw).toFixed(2)}× | ${kib(bytes.rawKms)} | ${(bytes.full / bytes.rawKms).toFixed(2)}× |`,
)
for (const [label, key] of [
  [`import (median of ${coldRuns})`, 'import'],
  [`import + first request (median of ${coldRuns})`, 'total'],
] as const) {
  const [f, r, k] = [median(coldTimes.full[key]), median(coldTimes.raw[key]), median(coldTimes.rawKms[key])]
  say(
    `| ${label} | ${f.toFixed(1)} ms | ${r.toFixed(1)} ms | ${(f / r).toFixed(2)}× | ${k.toFixed(1)} ms | ${(f / k).toFixed(2)}× |`,
  )
}
say(
  `\nBundle budget 450 KB: ${bytes.full <= 450 * 1024 ? 'met' : 'MISSED'}. Cold-start target: ≤ 1.2× the raw handler.`,
)
say(
  'The raw handler reads a plaintext password; the full stack and the raw+KMS variant pay a KMS Decrypt (local endpoint) and the SDK.',
)
