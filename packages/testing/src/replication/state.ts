import type { OsUser } from '../postgres/os-user.ts'
import type { Credentials } from './admin.ts'
import type { ClusterNode } from './node.ts'

/** What the operations of a replicated cluster read and change. */
export interface ClusterState {
  nodes: ClusterNode[]
  writer: number
  /** The node the cluster endpoint names. */
  endpointTarget: number
  credentials: Credentials
  synchronous: boolean
  user: OsUser | undefined
}

export function liveStandbys(state: ClusterState): ClusterNode[] {
  return state.nodes.filter((node) => node.role === 'standby' && node.pid !== undefined)
}

export function nodeAt(state: ClusterState, index: number, what = 'node'): ClusterNode {
  const node = Number.isInteger(index) ? state.nodes[index] : undefined
  if (!node) {
    throw new RangeError(`${what}: no node ${index}; the cluster has nodes 0 to ${state.nodes.length - 1}`)
  }
  return node
}
