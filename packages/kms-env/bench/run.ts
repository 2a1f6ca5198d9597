// `pnpm bench`: cold start (prefetch vs the console sample) and warm per-invocation overhead, with ratios.
import { cold } from './cold.ts'
import { fmt, type Row } from './shared.ts'
import { warm } from './warm.ts'

function table(title: string, rows: Row[]): void {
  console.log(`\n${title}`)
  console.table(rows.map((r) => ({ task: r.name, mean: fmt(r.mean), p50: fmt(r.p50), p99: fmt(r.p99) })))
}

const mean = (rows: Row[], prefix: string) => {
  const row = rows.find((r) => r.name.startsWith(prefix))
  if (!row) throw new Error(`no bench row '${prefix}'`)
  return row.mean
}
const verdict = (ok: boolean) => (ok ? 'meets target' : 'MISSES target')

const started = performance.now()
const coldRows = await cold()
table(
  'Cold start: 10 variables, KMS endpoint latency 25 ms per call (new client and empty cache each run)',
  coldRows,
)
const roundTrip = mean(coldRows, 'one Decrypt')
const prefetch = mean(coldRows, 'kmsEnv')
const sequential = mean(coldRows, 'console sample')
console.log(
  `kmsEnv prefetch / one round trip: ${(prefetch / roundTrip).toFixed(2)}× (target ≤ 1.3×) ${verdict(prefetch / roundTrip <= 1.3)}`,
)
console.log(
  `console sample / kmsEnv prefetch: ${(sequential / prefetch).toFixed(2)}× faster (target ≥ 7×) ${verdict(sequential / prefetch >= 7)}`,
)

const warmRows = await warm()
table('Warm invocations (values cached), per invocation', warmRows)
const bare = mean(warmRows, 'bare middy')
const comparisons = [
  ['read with getInternal', 'kmsEnv 10 keys + getInternal', '@middy/ssm 10 params + getInternal'],
  ['read with setToContext', 'kmsEnv 10 keys, setToContext', '@middy/ssm 10 params, setToContext'],
] as const
for (const [how, kmsRow, ssmRow] of comparisons) {
  const ours = mean(warmRows, kmsRow)
  const theirs = mean(warmRows, ssmRow)
  console.log(
    `${how}: overhead over bare middy: kmsEnv ${fmt(ours - bare)}, @middy/ssm ${fmt(theirs - bare)}; ` +
      `kmsEnv / @middy/ssm: ${(ours / theirs).toFixed(2)}× (target ≤ 1×) ${verdict(ours <= theirs)}`,
  )
}
console.log(`\nbench run took ${((performance.now() - started) / 1000).toFixed(1)} s`)
