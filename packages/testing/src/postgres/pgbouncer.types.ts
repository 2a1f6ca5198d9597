export interface StartPgBouncerOptions {
  /** The cluster (or database) PgBouncer forwards to. */
  upstream: {
    host: string
    port: number
    user: string
    password: string
    database?: string
    /** CA PEM of a TLS-only upstream (cluster.ca): PgBouncer then connects with server_tls_sslmode=verify-full. */
    ca?: string
  }
  /** Default 'transaction', like RDS Proxy. */
  poolMode?: 'session' | 'transaction' | 'statement'
  /** Server connections per user/database pair. Default 5. */
  poolSize?: number
  /** Client connections accepted. Default 500. */
  maxClientConnections?: number
  /** Extra users PgBouncer accepts (SCRAM, passed through to the server). */
  users?: { name: string; password: string }[]
}

export interface PgBouncer {
  host: string
  port: number
  pid: number
  poolMode: 'session' | 'transaction' | 'statement'
  /** Its temp directory (config, userlist); removed by stop(). */
  dir?: string
  /** postgres:// URL through the pooler for a user and database. */
  url(user?: { name: string; password: string }, database?: string): string
  stop(): Promise<void>
}
