// Recovery time after a server restart and after a writer failover: from the moment the writer accepts
// connections again (restart) or the cluster endpoint names the new writer (failover) to each container's
// first acknowledged write. Containers are separate Node processes writing in a loop through the cluster
// endpoint of a real replicated PostgreSQL 17 (TLS, SCRAM, a synchronous standby), all kinds at once:
//   rds       @rdskit/rds
//   postgres  a module-scope postgres.js handler (max: 1)
//   once      a node-postgres client built by the first invocation and never rebuilt (@middy/rds with pg.Client)
// `node bench/recovery.ts`; RECOVERY_BENCH_CONTAINERS (per kind, default 6) and RECOVERY_BENCH_ROUNDS
// (restarts, default 3) make a smoke run small.
import { randomBytes } from 'node:crypto'
import { startReplicatedCluster } from '@rdskit/testing'
import { clock, startWriters, tally, type Writers } from '../test/support/writers.ts'
import { createWrites, endpointConfig, onWriter } from '../test/support/writes-cluster.ts'

const perKind = Number(process.env.RECOVERY_BENCH_CONTAINERS ?? 6)
const restarts = Number(process.env.RECOVERY_BENCH_ROUNDS ?? 3)
const budgetMs = 5_000
/** How long after the writer is back a container may take before it counts as not recovered. */
const windowMs = 15_000
const kinds = ['rds', 'postgres', 'once'] as const
type Kind = (typeof kinds)[number]

const app = { name: 'bench_app', password: `pw-${randomBytes(9).toString('hex')}` }
const cluster = await startReplicatedCluster({ standbys: 2, synchronous: true, tls: true, roles: [app] })
const samples: Record<'restart' | 'failover', Record<Kind, number[]>> = {
  restart: { rds: [], postgres: [], once: [] },
  failover: { rds: [], postgres: [], once: [] },
}
/** Per fault and kind: failure outcomes of invocations that began after the writer was back. */
const afterBack: Record<'restart' | 'failover', Record<Kind, Record<string, number>>> = {
  restart: { rds: {}, postgres: {}, once: {} },
  failover: { rds: {}, postgres: {}, once: {} },
}
const containersOf = (kind: Kind) =>
  Array.from({ length: perKind }, (_, index) => kinds.indexOf(kind) * perKind + index)

/** Waits until every container wrote after `backAt` or the window closes, then records each one's recovery. */
async function record(fleet: Writers, fault: 'restart' | 'failover', backAt: number) {
  await fleet.allWroteAfter(backAt, windowMs).catch(() => {})
  for (const kind of kinds) {
    const containers = containersOf(kind)
    const counted = tally(fleet.log, new Map(), { budgetMs, backAt, containers })
    samples[fault][kind].push(...counted.recoveryMs)
    for (const entry of fleet.log) {
      if (entry.began < backAt || entry.outcome === 'ok' || !containers.includes(entry.c)) continue
      const outcomes = afterBack[fault][kind]
      outcomes[entry.outcome] = (outcomes[entry.outcome] ?? 0) + 1
    }
  }
}

try {
  await onWriter(cluster, (sql) => createWrites(sql, app))
  const base = {
    config: endpointConfig(cluster, app),
    ca: cluster.ca,
    budgetMs,
    pauseMs: 20,
  }
  const start = async () =>
    (await Promise.all(
      kinds.map((kind) => startWriters(perKind, { ...base, kind }, containersOf(kind)[0])),
    )) as [Writers, Writers, Writers]
  const merged = (fleets: Writers[]): Writers => ({
    get log() {
      return fleets.flatMap((fleet) => fleet.log)
    },
    allWroteAfter: (since, timeoutMs) =>
      Promise.all(fleets.map((fleet) => fleet.allWroteAfter(since, timeoutMs))).then(() => {}),
    stop: async () => (await Promise.all(fleets.map((fleet) => fleet.stop()))).flat(),
  })

  for (let round = 0; round < restarts; round++) {
    // Fresh warm containers each round: a baseline that never recovers would otherwise stay broken.
    const fleet = merged(await start())
    const at = clock()
    const report = await cluster.restart({ mode: 'fast', downMs: 1_000 })
    await record(fleet, 'restart', at + report.totalMs)
    await fleet.stop()
    console.log(`# restart ${round + 1}/${restarts} done`)
  }
  const fleet = merged(await start())
  const at = clock()
  const report = await cluster.failover({ mode: 'crash', staleMs: 1_500 })
  await record(fleet, 'failover', at + report.retargetedMs)
  await fleet.stop()
  console.log('# failover (writer crash, endpoint on a read-only standby for 1.5 s) done')
} finally {
  await cluster.stop()
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)
const at = (xs: number[], q: number) =>
  sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN
const ms = (value: number) => (Number.isFinite(value) ? `${Math.round(value)} ms` : `> ${windowMs / 1000} s`)
const recovered = (xs: number[]) => `${xs.filter(Number.isFinite).length}/${xs.length}`
const failuresOf = (outcomes: Record<string, number>) =>
  Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([outcome, count]) => `${outcome} ×${count}`)
    .join(', ') || 'none'
const ratio = (value: number, rds: number) =>
  Number.isFinite(value) && Number.isFinite(rds) && rds > 0 ? `${(value / rds).toFixed(1)}×` : '—'

console.log(
  `\nRecovery per container (${perKind} containers per kind; ${restarts} restart(s), 1 failover), from the writer accepting to the first acknowledged write:\n`,
)
console.log(
  '| fault | client | recovered | median | p95 | max | median vs rds | failures once the writer was back |',
)
console.log('|---|---|---|---|---|---|---|---|')
for (const fault of ['restart', 'failover'] as const) {
  const rdsMedian = at(samples[fault].rds, 0.5)
  for (const kind of kinds) {
    const xs = samples[fault][kind]
    const median = at(xs, 0.5)
    console.log(
      `| ${fault} | ${kind} | ${recovered(xs)} | ${ms(median)} | ${ms(at(xs, 0.95))} | ${ms(Math.max(...xs))} | ${ratio(median, rdsMedian)} | ${failuresOf(afterBack[fault][kind])} |`,
    )
  }
}
process.exit(0)
