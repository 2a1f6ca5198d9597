// `pnpm bench`: cold start (prefetch vs the console sample) and warm per-invocation overhead, with ratios.
import { cold } from './cold.ts'
import { fmt, type Row } from './shared.ts'
import { warm } from './warm.ts'

function table(title: string, rows: Row[]): void {
  console.log(`\n${title}`)
  console.table(rows.map((r) => ({ task: r.name, mean: fmt(r.mean), p50: fmt(r.p50), p99: fmt(r.p99) })))
}

// Ratios use medians: the machine is shared, and a median shrugs off the odd run a neighbour's load
// stretched; the means are printed beside them.
const row = (rows: Row[], prefix: string) => {
  const found = rows.find((r) => r.name.startsWith(prefix))
  if (!found) throw new Error(`no bench row '${prefix}'`)
  return found
}
const ratio = (a: Row, b: Row) => `${(a.p50 / b.p50).toFixed(2)}× (means: ${(a.mean / b.mean).toFixed(2)}×)`
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED')

const started = performance.now()
const coldRows = await cold()
table(
  'Cold start: 10 variables, KMS endpoint latency 25 ms per call (new client and empty cache each run)',
  coldRows,
)
const roundTrip = row(coldRows, 'one Decrypt')
const prefetch = row(coldRows, 'kmsEnv')
const sequential = row(coldRows, 'console sample')
console.log(
  `kmsEnv prefetch / one round trip: ${ratio(prefetch, roundTrip)}; target ≤ 1.3×: ${verdict(prefetch.p50 / roundTrip.p50 <= 1.3)}`,
)
console.log(
  `console sample / kmsEnv prefetch: ${ratio(sequential, prefetch)} slower; target ≥ 7×: ${verdict(sequential.p50 / prefetch.p50 >= 7)}`,
)

const warmRows = await warm()
table('Warm invocations (values cached), per invocation', warmRows)
const bare = row(warmRows, 'bare middy')
const comparisons = [
  ['read with getInternal', 'kmsEnv 10 keys + getInternal', '@middy/ssm 10 params + getInternal'],
  ['read with setToContext', 'kmsEnv 10 keys, setToContext', '@middy/ssm 10 params, setToContext'],
] as const
for (const [how, kmsRow, ssmRow] of comparisons) {
  const ours = row(warmRows, kmsRow)
  const theirs = row(warmRows, ssmRow)
  console.log(
    `${how}: median overhead over bare middy: kmsEnv ${fmt(ours.p50 - bare.p50)}, @middy/ssm ${fmt(theirs.p50 - bare.p50)}; ` +
      `kmsEnv / @middy/ssm: ${ratio(ours, theirs)}; target ≤ 1×: ${verdict(ours.p50 <= theirs.p50)}`,
  )
}
console.log(`\nbench run took ${((performance.now() - started) / 1000).toFixed(1)} s`)
