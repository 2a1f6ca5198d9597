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
  /**
   * Require TLS from clients (client_tls_sslmode=require) with a CA and certificate made for this PgBouncer
   * (SANs localhost, 127.0.0.1), like an RDS Proxy that requires TLS. Its CA is `ca`.
   */
  tls?: boolean
}

export interface PgBouncer {
  host: string
  port: number
  pid: number
  poolMode: 'session' | 'transaction' | 'statement'
  /** The CA PEM that signed PgBouncer's certificate, when `tls` is on. */
  ca?: string
  /** Its temp directory (config, userlist); removed by stop(). */
  dir?: string
  /** postgres:// URL through the pooler for a user and database (with ?sslmode=verify-full when `tls`). */
  url(user?: { name: string; password: string }, database?: string): string
  stop(): Promise<void>
}
