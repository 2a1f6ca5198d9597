import { type PgBouncer, type PostgresCluster, startPgBouncer } from '@rdskit/testing'

/**
 * PgBouncer in transaction mode in front of `cluster`, as RDS Proxy: TLS on both legs (clients verify its
 * certificate, it verifies the cluster's) and 2 server connections, fewer than the tests' clients, so each
 * transaction may land on another server session. `app` logs in through it.
 */
export function startTransactionPooler(
  cluster: PostgresCluster,
  app: { name: string; password: string },
): Promise<PgBouncer> {
  return startPgBouncer({
    upstream: {
      host: cluster.host,
      port: cluster.port,
      user: cluster.user,
      password: cluster.password,
      ca: cluster.ca,
    },
    users: [app],
    poolMode: 'transaction',
    poolSize: 2,
    tls: true,
  })
}
