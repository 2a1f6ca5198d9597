/**
 * `pnpm bench`: the full Middy stack (kms-env + rds + drizzle + Middy's http middlewares + validation +
 * problem+json + JSON logs) against a raw module-scope postgres.js handler, both as deployed bundles,
 * both behind the local API Gateway v2 adapter, each in its own process, both over verified TLS.
 *   1. throughput with autocannon, 10 connections: GET /notes/{id} and POST /notes
 *   2. bundle size and cold start: import the bundle + answer the first request in a fresh process
 * Prints every number and the ratios. About a minute on two cores.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { build } from 'esbuild'
import { builtinAliases, esbuildSettings } from '../infra/bundling.ts'
import { apiBundleBudget, bundle } from '../scripts/bundle.ts'
import { appDir } from '../src/local/paths.ts'
import { measureLayers } from './layers.ts'
import { setup } from './setup.ts'

const seconds = Number(process.env.BENCH_SECONDS ?? 4)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const coldRuns = Number(process.env.BENCH_COLD_RUNS ?? 7)
const say = (s: string) => process.stdout.write(`${s}\n`)

// ---- bundles -------------------------------------------------------------------------------------
const out = mkdtempSync(join(tmpdir(), 'rdskit-bench-'))
const sizes = await bundle(join(out, 'full'))
const fullBundle = join(out, 'full', 'api', 'index.mjs')
const rawBundle = join(out, 'raw', 'index.mjs')
const rawKmsBundle = join(out, 'raw-kms', 'index.mjs')
const rawNoDelayBundle = join(out, 'raw-nodelay', 'index.mjs')
const esbuild = (
  entry: { file: string } | { contents: string },
  outfile: string,
  settings = esbuildSettings,
) =>
  build({
    ...settings,
    banner: { js: settings.banner },
    ...('file' in entry
      ? { entryPoints: [entry.file] }
      : { stdin: { contents: entry.contents, resolveDir: appDir, loader: 'ts' as const } }),
    outfile,
    logLevel: 'warning',
  })
await esbuild({ file: join(appDir, 'bench', 'raw-handler.ts') }, rawBundle)
await esbuild({ file: join(appDir, 'bench', 'raw-kms-handler.ts') }, rawKmsBundle)
await esbuild({ file: join(appDir, 'bench', 'raw-nodelay-handler.ts') }, rawNoDelayBundle)
// The built-ins as ESM imports, as bundled before the shims (infra/bundling.ts): for the by-dependency table.
const withoutShims = {
  ...esbuildSettings,
  alias: Object.fromEntries(Object.entries(esbuildSettings.alias).filter(([k]) => !(k in builtinAliases))),
}

/** What each dependency costs to load on its own (bundled alike, imported in a fresh process). */
const builtinNames = ['http', 'https', 'tls', 'net', 'crypto', 'zlib', 'stream', 'fs', 'os', 'process']
const builtinsUsed = `${builtinNames.map((n) => `import * as ${n} from 'node:${n}'`).join('; ')}; export const all = [${builtinNames.join(', ')}].map((m) => typeof m)`
const deps: Record<string, string> = {
  'empty bundle (node startup + ESM import)': 'export const x = 1',
  'node built-ins the full stack uses, via the shims (infra/node-builtins)': builtinsUsed,
  'the same built-ins as ESM imports (no shims)': builtinsUsed,
  'postgres (postgres.js)': "import postgres from 'postgres'; export const p = postgres",
  'drizzle-orm + the schema':
    "export { drizzle } from 'drizzle-orm/postgres-js'; export * from './src/db/schema.ts'",
  '@aws-sdk/client-kms (KMSClient, DecryptCommand, new client)':
    "import { KMSClient, DecryptCommand } from '@aws-sdk/client-kms'; export const c = new KMSClient({ region: 'us-east-1' }); export { DecryptCommand }",
  '@middy/core + the 6 http middlewares':
    "export { default as a } from '@middy/core'; export { default as b } from '@middy/http-cors'; export { default as c } from '@middy/http-error-handler'; export { default as d } from '@middy/http-header-normalizer'; export { default as e } from '@middy/http-router'; export { default as f } from '@middy/http-security-headers'; export { default as g } from '@middy/http-json-body-parser'",
  'valibot + the schemas': "export * from './src/notes/schemas.ts'",
}
const depBundles: Record<string, string> = {}
for (const [i, [name, contents]] of Object.entries(deps).entries()) {
  depBundles[name] = join(out, 'deps', `${i}.mjs`)
  await esbuild({ contents }, depBundles[name], name.includes('(no shims)') ? withoutShims : esbuildSettings)
}
const bytes = {
  full: sizes.api ?? 0,
  raw: statSync(rawBundle).size,
  rawKms: statSync(rawKmsBundle).size,
  rawNoDelay: statSync(rawNoDelayBundle).size,
}

// ---- database, KMS, ciphertext -------------------------------------------------------------------
const bench = await setup()
const children = new Set<ChildProcess>()
const cleanup = async () => {
  for (const c of children) c.kill('SIGKILL')
  await bench.stop()
  rmSync(out, { recursive: true, force: true })
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)))
const env = { ...process.env, ...bench.env }
const child = join(appDir, 'bench', 'child.ts')
const seed = bench.seed

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

// 10 connections; plus GET with 1 connection: one request at a time, as one Lambda
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
interface ColdRun {
  status: number
  importMs: number
  firstMs: number
  warmMs: number
  totalMs: number
}
const cold = (bundlePath: string, mode: 'cold' | 'import' = 'cold') =>
  new Promise<ColdRun>((resolve, reject) => {
    const proc = spawn(process.execPath, [child, mode, bundlePath, `/notes/${seed}`], {
      env: { ...env, POWERTOOLS_LOG_LEVEL: 'WARN' },
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
const subjects = {
  full: fullBundle,
  raw: rawBundle,
  rawKms: rawKmsBundle,
  rawNoDelay: rawNoDelayBundle,
} as const
type Subject = keyof typeof subjects
const coldTimes = Object.fromEntries(Object.keys(subjects).map((k) => [k, [] as ColdRun[]])) as Record<
  Subject,
  ColdRun[]
>
const depTimes: Record<string, number[]> = Object.fromEntries(Object.keys(depBundles).map((k) => [k, []]))
for (let i = 0; i < coldRuns; i++) {
  for (const subject of Object.keys(subjects) as Subject[]) {
    const run = await cold(subjects[subject])
    if (run.status !== 200) throw new Error(`cold start of ${subject} answered ${run.status}`)
    coldTimes[subject].push(run)
  }
  for (const [name, path] of Object.entries(depBundles))
    depTimes[name]?.push((await cold(path, 'import')).importMs)
}

// ---- per-layer breakdown (in process, one request at a time) -------------------------------------
const layersTable = await measureLayers(bench)
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
  say(`| ${name} | ${f.toFixed(0)} | ${r.toFixed(0)} | ${pct(f / r)} | ${row.p99.full} / ${row.p99.raw} |`)
}
say('\n## Cold start (fresh process: import the bundle, answer GET /notes/{id})\n')
say(
  '| | full Middy stack | raw postgres.js | full / raw | raw, TCP_NODELAY by hand | full / raw+nodelay | raw + console KMS decrypt | full / raw+KMS |',
)
say('|---|---:|---:|---:|---:|---:|---:|---:|')
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`
say(
  `| bundle size (minified, AWS SDK included) | ${kib(bytes.full)} | ${kib(bytes.raw)} | ${(bytes.full / bytes.raw).toFixed(2)}× | ${kib(bytes.rawNoDelay)} | ${(bytes.full / bytes.rawNoDelay).toFixed(2)}× | ${kib(bytes.rawKms)} | ${(bytes.full / bytes.rawKms).toFixed(2)}× |`,
)
const coldMedian = (subject: Subject, key: keyof ColdRun) => median(coldTimes[subject].map((r) => r[key]))
for (const [label, key] of [
  [`import (median of ${coldRuns})`, 'importMs'],
  ['first request (KMS decrypt, connect, query)', 'firstMs'],
  ['second request (warm)', 'warmMs'],
  [`import + first request (median of ${coldRuns})`, 'totalMs'],
] as const) {
  const [f, r, n, k] = (['full', 'raw', 'rawNoDelay', 'rawKms'] as const).map((s) => coldMedian(s, key)) as [
    number,
    number,
    number,
    number,
  ]
  say(
    `| ${label} | ${f.toFixed(1)} ms | ${r.toFixed(1)} ms | ${(f / r).toFixed(2)}× | ${n.toFixed(1)} ms | ${(f / n).toFixed(2)}× | ${k.toFixed(1)} ms | ${(f / k).toFixed(2)}× |`,
  )
}
say(
  `\nBundle: ${kib(bytes.full)} (test/bundle.test.ts keeps the deployed bundle within ${kib(apiBundleBudget)}).`,
)
say(
  'The raw handlers read a plaintext password; the full stack and the raw+KMS variant pay a KMS Decrypt (local endpoint) and the SDK. All verify TLS; postgres.js on its own socket waits ~40 ms for a delayed ACK per new TLS connection (Nagle), which rds and the TCP_NODELAY variant do not.',
)
say(
  `\n## Cold start by dependency (each bundled alone, imported in a fresh process, median of ${coldRuns})\n`,
)
say('| bundle | import ms | minus the empty bundle |')
say('|---|---:|---:|')
const empty = median(Object.values(depTimes)[0] ?? [0])
for (const [name, times] of Object.entries(depTimes)) {
  const m = median(times)
  say(`| ${name} | ${m.toFixed(1)} | ${(m - empty).toFixed(1)} |`)
}
say('\n## Warm GET /notes/{id} by layer\n')
say(layersTable)
