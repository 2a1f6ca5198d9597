import { writeOwned } from '../postgres/os-user.ts'
import { quoteLiteral } from '../postgres/sql-text.ts'
import { type Credentials, onNode, waitForStreaming } from './admin.ts'
import { primaryConninfo, setAutoConf, synchronousNames } from './config.ts'
import type { ClusterNode } from './node.ts'
import { type ClusterState, liveStandbys, nodeAt } from './state.ts'
import type { FailoverOptions, FailoverReport, RestartOptions, RestartReport } from './types.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function nonNegative(value: number | undefined, name: string): number {
  const ms = value ?? 0
  if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`${name} must be a number of ms >= 0; got ${value}`)
  return ms
}

function conninfoTo(writer: ClusterNode, follower: ClusterNode, credentials: Credentials): string {
  return primaryConninfo({
    port: writer.port,
    password: credentials.replicationPassword,
    applicationName: follower.name,
    caFile: credentials.caFile,
  })
}

/**
 * Stops the writer, or the node `options.node` (`fast` or a crash), keeps it down `downMs`, starts it again on
 * the same port in the role it had (a standby resumes streaming from the writer).
 */
export async function restartNode(state: ClusterState, options: RestartOptions = {}): Promise<RestartReport> {
  const mode = options.mode ?? 'fast'
  if (mode !== 'fast' && mode !== 'immediate')
    throw new TypeError(`restart: mode must be 'fast' or 'immediate'; got ${JSON.stringify(mode)}`)
  const downMs = nonNegative(options.downMs, 'restart: downMs')
  const node = nodeAt(state, options.node ?? state.writer, 'restart: node')
  const role = node.role
  if (node.pid === undefined || role === 'down') throw new Error(`restart: ${node.name} is down`)
  const started = performance.now()
  await node.stop(mode === 'fast' ? 'fast' : 'crash')
  const stopMs = performance.now() - started
  await sleep(downMs)
  await node.start(role)
  return { node: node.index, mode, stopMs, totalMs: performance.now() - started }
}

/** The standby to promote: `to` when given, else the one that received the most WAL (so no acknowledged commit is lost). */
async function chooseCandidate(state: ClusterState, standbys: ClusterNode[], to: number | undefined) {
  if (to !== undefined) {
    const node = nodeAt(state, to, 'failover: to')
    if (!standbys.includes(node)) throw new Error(`failover: ${node.name} is not a live standby`)
    return node
  }
  const received = await Promise.all(
    standbys.map((node) =>
      onNode(node, state.credentials, async (sql) => {
        const [row] = await sql`select pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::float8 as at`
        return { node, at: Number(row?.at ?? 0) }
      }),
    ),
  )
  received.sort((a, b) => b.at - a.at || a.node.index - b.node.index)
  return received[0]?.node as ClusterNode
}

/** Sets who acknowledges commits on `writer` (live or not yet started), then reloads. */
async function setSynchronous(state: ClusterState, writer: ClusterNode, followers: ClusterNode[]) {
  if (!state.synchronous) return
  const names = synchronousNames(followers.map((node) => node.name))
  await onNode(writer, state.credentials, async (sql) => {
    await sql.unsafe(`alter system set synchronous_standby_names = ${quoteLiteral(names)}`)
    await sql`select pg_reload_conf()`
  })
}

/** Points a live standby at `writer`; it follows the new timeline (recovery_target_timeline = latest). */
async function follow(state: ClusterState, standby: ClusterNode, writer: ClusterNode) {
  const conninfo = conninfoTo(writer, standby, state.credentials)
  await onNode(standby, state.credentials, async (sql) => {
    await sql.unsafe(`alter system set primary_conninfo = ${quoteLiteral(conninfo)}`)
    await sql`select pg_reload_conf()`
  })
}

/** Starts the cleanly stopped old writer as a standby of `writer`. */
async function rejoin(state: ClusterState, old: ClusterNode, writer: ClusterNode) {
  await setAutoConf(old.dataDir, { primary_conninfo: conninfoTo(writer, old, state.credentials) }, state.user)
  await writeOwned(`${old.dataDir}/standby.signal`, '', 0o600, state.user)
  await old.start('standby')
}

async function promote(state: ClusterState, node: ClusterNode, followers: ClusterNode[]) {
  await setSynchronous(state, node, followers)
  await onNode(node, state.credentials, async (sql) => {
    const [row] = await sql`select pg_promote(true, 60) as done`
    if (!row?.done) throw new Error(`failover: ${node.name} was not promoted within 60 s`)
  })
  node.role = 'writer'
}

/** Stops the writer, optionally lets the endpoint name a read-only node, promotes a standby, retargets. */
export async function failover(state: ClusterState, options: FailoverOptions = {}): Promise<FailoverReport> {
  const mode = options.mode ?? 'crash'
  if (mode !== 'crash' && mode !== 'switchover')
    throw new TypeError(`failover: mode must be 'crash' or 'switchover'; got ${JSON.stringify(mode)}`)
  const staleMs = nonNegative(options.staleMs, 'failover: staleMs')
  const old = nodeAt(state, state.writer)
  const standbys = liveStandbys(state)
  if (standbys.length === 0) throw new Error('failover: there is no live standby to promote')
  const started = performance.now()
  const since = () => performance.now() - started
  await old.stop(mode === 'switchover' ? 'fast' : 'crash')
  const stoppedMs = since()

  const next = await chooseCandidate(state, standbys, options.to)
  const others = standbys.filter((node) => node !== next)
  const followers = mode === 'switchover' ? [...others, old] : others
  // The stale node: a standby that stays read-only, else the candidate before its promotion.
  const stale = staleMs > 0 ? (others[0] ?? next) : undefined
  let writableMs = 0
  const promoting = async () => {
    await promote(state, next, followers)
    writableMs = since()
  }
  const early = stale !== undefined && stale !== next ? promoting() : undefined
  if (stale !== undefined) {
    state.endpointTarget = stale.index
    await sleep(staleMs)
  }
  await (early ?? promoting())
  state.writer = next.index
  state.endpointTarget = next.index
  const retargetedMs = since()

  await Promise.all(others.map((node) => follow(state, node, next)))
  let rejoinedMs: number | undefined
  if (mode === 'switchover') {
    await rejoin(state, old, next)
    await waitForStreaming(next, [old], state.credentials)
    rejoinedMs = since()
  }
  await waitForStreaming(next, others, state.credentials)
  return {
    mode,
    from: old.index,
    to: next.index,
    stale: stale?.index,
    stoppedMs,
    writableMs,
    retargetedMs,
    rejoinedMs,
    totalMs: since(),
  }
}
