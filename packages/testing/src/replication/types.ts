import type { Options, Sql } from 'postgres'
import type { RoleSpec } from '../postgres/types.ts'

export interface StartReplicatedClusterOptions {
  /** Streaming standbys besides the writer. Default 1. */
  standbys?: number
  /**
   * Synchronous replication: `synchronous_standby_names = 'ANY 1 (…)'`, so a commit is acknowledged only once a
   * standby has flushed it, and failover promotes the standby that received the most WAL: no acknowledged write
   * is lost. Default false (asynchronous, like RDS read replicas).
   */
  synchronous?: boolean
  /** One CA and one server certificate for every node; `hostssl` only, replication included. Default false. */
  tls?: boolean
  /** PostgreSQL major version. Default 17. */
  version?: 15 | 16 | 17
  /** Extra server settings for every node (`-c name=value`). */
  settings?: Record<string, string | number | boolean>
  /** Roles to create on the writer at start (they replicate to the standbys). */
  roles?: RoleSpec[]
}

export type ReplicaRole = 'writer' | 'standby' | 'down'

/** One server of the cluster, as it is now. */
export interface ReplicaNode {
  index: number
  /** node0, node1, …: also its `application_name` towards its writer. */
  name: string
  host: string
  /** Kept across restarts. */
  port: number
  role: ReplicaRole
  /** Postmaster PID; undefined while down. */
  pid: number | undefined
  /** Superuser URL of this node (with ?sslmode=verify-full when `tls`). */
  url: string
}

/** The cluster (writer) endpoint: new connections go to its target, open ones stay where they are. */
export interface ClusterEndpoint {
  host: string
  port: number
  /** Superuser URL through the endpoint. */
  url: string
  /** The node new connections go to. */
  target(): number
  /** Name another node (any role: a standby makes sessions opened from now on read-only). */
  retarget(node: number): void
  connections(): number
  /** Reset every connection through the endpoint. */
  resetAll(): void
}

/** The reader endpoint: each new connection goes to the next live standby (round robin). */
export interface ReaderEndpoint {
  host: string
  port: number
  url: string
  connections(): number
  resetAll(): void
}

export interface RestartOptions {
  /** `fast`: SIGINT, open sessions get FATAL 57P01. `immediate`: every process SIGKILLed, sessions cut, crash recovery on start. Default `fast`. */
  mode?: 'fast' | 'immediate'
  /** How long the server stays down (connections refused) before it starts again. Default 0. */
  downMs?: number
  /** The node to restart: a standby restarts as a standby (a reader restart). Default: the writer. */
  node?: number
}

export interface RestartReport {
  node: number
  mode: 'fast' | 'immediate'
  /** From the call until the server was gone. */
  stopMs: number
  /** From the call until it accepted connections again (on the same port). */
  totalMs: number
}

export interface FailoverOptions {
  /** `crash`: the writer is SIGKILLed (it stays down). `switchover`: it is shut down cleanly and comes back as a standby of the new writer. Default `crash`. */
  mode?: 'crash' | 'switchover'
  /** Let the endpoint name a read-only node (a standby) this long before it names the new writer. Default 0. */
  staleMs?: number
  /** The standby to promote. Default: the one that received the most WAL. */
  to?: number
}

export interface FailoverReport {
  mode: 'crash' | 'switchover'
  from: number
  to: number
  /** The read-only node the endpoint named meanwhile, if `staleMs` > 0. */
  stale: number | undefined
  /** Timings in ms from the call. */
  stoppedMs: number
  /** The new writer accepted writes (pg_promote returned). */
  writableMs: number
  /** The endpoint named the new writer. */
  retargetedMs: number
  /** The old writer streamed from the new one as a standby (switchover only). */
  rejoinedMs: number | undefined
  totalMs: number
}

export interface ReplicatedCluster {
  version: number
  /** Superuser credentials, the same on every node. */
  user: string
  password: string
  database: string
  /** CA certificate (PEM) of every node's certificate when `tls`. */
  ca: string | undefined
  /** Superuser URL through the cluster endpoint. */
  url: string
  /** Superuser URL through the reader endpoint. */
  readerUrl: string
  /** The cluster's temp directory (removed by stop()). */
  dir: string
  nodes(): ReplicaNode[]
  node(index: number): ReplicaNode
  /** The node that is the writer now. */
  writer(): ReplicaNode
  endpoint(): ClusterEndpoint
  readerEndpoint(): ReaderEndpoint
  /**
   * A superuser postgres.js handle on a node (its index), the cluster endpoint or the reader endpoint; ended by
   * stop().
   */
  connect(to: number | 'endpoint' | 'reader', options?: Options<Record<string, never>>): Sql
  /** Waits until every live standby has replayed what the writer has written so far. */
  waitForReplay(timeoutMs?: number): Promise<void>
  /** Restarts the writer, or with `node` any live node in the role it had. */
  restart(options?: RestartOptions): Promise<RestartReport>
  failover(options?: FailoverOptions): Promise<FailoverReport>
  /** SIGSTOP the writer's postmaster and every child for `ms`, then SIGCONT; resolves once resumed. */
  stall(ms: number): Promise<void>
  /** Stop every node and endpoint, remove every directory. Idempotent. */
  stop(): Promise<void>
}
