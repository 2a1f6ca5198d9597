import type { Sql } from 'postgres'

/** A role created on a cluster, with a SCRAM-SHA-256 password. */
export interface RoleSpec {
  name: string
  password: string
  superuser?: boolean
  createdb?: boolean
  /** `VALID UNTIL`: the password stops working for new connections after this instant. */
  validUntil?: Date
}

export interface StartPostgresOptions {
  /** PostgreSQL major version. Default 17. */
  version?: 15 | 16 | 17
  /**
   * Generate a CA and a server certificate (SANs: localhost, 127.0.0.1) for this cluster, turn `ssl` on
   * and accept only `hostssl` connections, as RDS does with `rds.force_ssl = 1`.
   */
  tls?: boolean
  /** `max_connections`. Default 100. */
  maxConnections?: number
  /** Extra server settings passed as `-c name=value` (idle_session_timeout, …). */
  settings?: Record<string, string | number | boolean>
  /** Roles to create at start. */
  roles?: RoleSpec[]
  /**
   * Start a local cluster even when TEST_DATABASE_URL is set (tests that pause/resume the server need one).
   * `tls`, `version`, `maxConnections` and `settings` imply it.
   */
  throwaway?: boolean
}

/** One row of pg_stat_activity, as the failure tests need it. */
export interface Session {
  pid: number
  user: string | null
  database: string | null
  applicationName: string
  state: string | null
  backendType: string
  query: string
}

export interface SessionFilter {
  user?: string
  database?: string
  applicationName?: string
}

/** Connection settings of a database on a cluster. */
export interface ConnectionInfo {
  host: string
  port: number
  user: string
  password: string
  database: string
  /** postgres://user:password@host:port/database (with ?sslmode=verify-full when the cluster is TLS-only) */
  url: string
}

/** A database made for one test file; dropped by `drop()` (terminating its sessions first). */
export interface TestDatabase extends ConnectionInfo {
  /** postgres.js handle on this database, as the admin user. */
  sql: Sql
  drop(): Promise<void>
}

export interface PostgresCluster extends ConnectionInfo {
  /** Server major version actually running. */
  version: number
  /** The CA certificate (PEM) that signed the server certificate, when `tls` is on. */
  ca: string | undefined
  /** Postmaster PID; undefined for an external server (TEST_DATABASE_URL). */
  pid: number | undefined
  /** True when this is the server TEST_DATABASE_URL points at, not a throwaway cluster. */
  external: boolean
  /** The cluster's temp directory (data, socket, certificates); removed by stop(). Absent when external. */
  dir?: string
  /** Admin postgres.js handle (superuser) on the `postgres` database. */
  sql: Sql
  createDatabase(name?: string): Promise<TestDatabase>
  createRole(role: RoleSpec): Promise<void>
  /** ALTER ROLE … PASSWORD (and VALID UNTIL): what a Secrets Manager rotation does. */
  setPassword(role: string, password: string, validUntil?: Date): Promise<void>
  sessions(filter?: SessionFilter): Promise<Session[]>
  /** pg_terminate_backend on one PID or on every client session matching the filter; resolves to the count. */
  terminate(target: number | SessionFilter): Promise<number>
  /** SIGSTOP the postmaster and every backend: a silent dead peer (no RST, no FIN). */
  pause(): Promise<void>
  /** SIGCONT what pause() stopped. */
  resume(): Promise<void>
  /** Stop the server and remove its directory. Idempotent. */
  stop(): Promise<void>
}
