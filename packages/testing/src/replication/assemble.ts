import type { Options, Sql } from 'postgres'
import { startSwitchableEndpoint } from '../net/switchable-endpoint.ts'
import { connect, connectionInfo } from '../postgres/connection.ts'
import { onNode, serverTarget, until } from './admin.ts'
import type { ClusterNode } from './node.ts'
import { failover, restartNode } from './operations.ts'
import { type ClusterState, liveStandbys, nodeAt } from './state.ts'
import type { ReplicaNode, ReplicatedCluster } from './types.ts'

function describeNode(state: ClusterState, node: ClusterNode): ReplicaNode {
  const { url } = connectionInfo(serverTarget(node.port, state.credentials))
  return {
    index: node.index,
    name: node.name,
    host: '127.0.0.1',
    port: node.port,
    role: node.role,
    pid: node.pid,
    url,
  }
}

/** The ReplicatedCluster object around built, running nodes: endpoints, handles, operations, stop(). */
export async function assemble(
  state: ClusterState,
  version: number,
  dir: string,
  cleanup: () => Promise<void>,
): Promise<ReplicatedCluster> {
  const { credentials } = state
  let readerCursor = 0
  const writerEndpoint = await startSwitchableEndpoint(() => ({
    host: '127.0.0.1',
    port: nodeAt(state, state.endpointTarget).port,
  }))
  const readerEndpoint = await startSwitchableEndpoint(() => {
    const standbys = liveStandbys(state)
    if (standbys.length === 0) return undefined
    const next = standbys[readerCursor++ % standbys.length] as ClusterNode
    return { host: '127.0.0.1', port: next.port }
  })
  const handles = new Set<Sql>()
  const stalls = new Set<() => void>()
  const endpointUrl = connectionInfo(serverTarget(writerEndpoint.port, credentials)).url
  const readerUrl = connectionInfo(serverTarget(readerEndpoint.port, credentials)).url
  let stopping: Promise<void> | undefined

  const cluster: ReplicatedCluster = {
    version,
    user: 'postgres',
    password: credentials.password,
    database: 'postgres',
    ca: credentials.ca,
    url: endpointUrl,
    readerUrl,
    dir,
    nodes: () => state.nodes.map((node) => describeNode(state, node)),
    node: (index) => describeNode(state, nodeAt(state, index)),
    writer: () => describeNode(state, nodeAt(state, state.writer)),
    endpoint: () => ({
      host: writerEndpoint.host,
      port: writerEndpoint.port,
      url: endpointUrl,
      target: () => state.endpointTarget,
      retarget(index) {
        state.endpointTarget = nodeAt(state, index, 'retarget').index
      },
      connections: writerEndpoint.connections,
      resetAll: writerEndpoint.resetAll,
    }),
    readerEndpoint: () => ({
      host: readerEndpoint.host,
      port: readerEndpoint.port,
      url: readerUrl,
      connections: readerEndpoint.connections,
      resetAll: readerEndpoint.resetAll,
    }),
    connect(to, options: Options<Record<string, never>> = {}) {
      const port =
        to === 'endpoint'
          ? writerEndpoint.port
          : to === 'reader'
            ? readerEndpoint.port
            : nodeAt(state, to, 'connect').port
      const sql = connect(serverTarget(port, credentials), 'postgres', { connect_timeout: 5, ...options })
      handles.add(sql)
      return sql
    },
    async waitForReplay(timeoutMs = 30_000) {
      const writer = nodeAt(state, state.writer)
      const [row] = await onNode(writer, credentials, (sql) => sql`select pg_current_wal_lsn()::text as lsn`)
      const lsn = String(row?.lsn)
      await Promise.all(
        liveStandbys(state).map((node) =>
          until(
            `replay of ${lsn} on ${node.name}`,
            () =>
              onNode(node, credentials, async (sql) => {
                const [at] =
                  await sql`select pg_wal_lsn_diff(pg_last_wal_replay_lsn(), ${lsn}::pg_lsn) >= 0 as done`
                return Boolean(at?.done)
              }),
            timeoutMs,
          ),
        ),
      )
    },
    restart: (options) => restartNode(state, options),
    failover: (options) => failover(state, options),
    stall(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`stall: ms must be a number >= 0; got ${ms}`)
      const writer = nodeAt(state, state.writer)
      if (writer.pid === undefined)
        return Promise.reject(new Error(`stall: the writer ${writer.name} is down`))
      writer.pause()
      return new Promise<void>((resolve) => {
        const resume = () => {
          clearTimeout(timer)
          stalls.delete(resume)
          writer.resume()
          resolve()
        }
        // Referenced on purpose: the server is resumed even when the test that stalled it has failed.
        const timer = setTimeout(resume, ms)
        stalls.add(resume)
      })
    },
    stop() {
      stopping ??= (async () => {
        for (const resume of [...stalls]) resume()
        await Promise.allSettled([...handles].map((sql) => sql.end({ timeout: 0 })))
        handles.clear()
        await Promise.all([writerEndpoint.stop(), readerEndpoint.stop()])
        await cleanup()
      })()
      return stopping
    },
  }
  return cluster
}
