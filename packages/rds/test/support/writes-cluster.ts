// The `writes` table on a replicated cluster, as the writer containers of the failover tests and the
// recovery benchmark use it: created by the superuser on the current writer, written by an app role through
// the cluster endpoint.
import type { ReplicatedCluster } from '@rdskit/testing'
import postgres from 'postgres'
import type { WriterSpec } from '../fixtures/writer.ts'
import { createWritesTable } from '../fixtures/writes.ts'

export interface AppRole {
  name: string
  password: string
}

/** A superuser statement on the node that is the writer now (a failover moves it). */
export async function onWriter<T>(
  cluster: ReplicatedCluster,
  run: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  const sql = postgres(cluster.writer().url, {
    ssl: { ca: cluster.ca as string },
    max: 1,
    onnotice: () => {},
  })
  try {
    return await run(sql)
  } finally {
    await sql.end({ timeout: 0 })
  }
}

/** Creates the writes table and lets `app` read it and insert into it. */
export async function createWrites(sql: postgres.Sql, app: AppRole): Promise<void> {
  await sql.unsafe(createWritesTable)
  await sql.unsafe(`grant select, insert on writes to ${app.name}`)
  await sql.unsafe(`grant usage on sequence writes_id_seq to ${app.name}`)
}

/** How many rows the writer holds for `token`, counted by the superuser on the node that is the writer now. */
export const countRows = (cluster: ReplicatedCluster, token: string): Promise<number> =>
  onWriter(cluster, async (sql) => {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from writes where token = ${token}`
    return row?.n ?? -1
  })

/** Connection settings of `app` on `target`: a node's own port, or an endpoint of the cluster. */
export function appConfig(
  cluster: ReplicatedCluster,
  app: AppRole,
  target: { host: string; port: number },
): WriterSpec['config'] {
  return {
    host: target.host,
    port: target.port,
    database: cluster.database,
    username: app.name,
    password: app.password,
  }
}

/** Connection settings of `app` through the cluster endpoint (the DNS name that follows the writer). */
export const endpointConfig = (cluster: ReplicatedCluster, app: AppRole): WriterSpec['config'] =>
  appConfig(cluster, app, cluster.endpoint())

/** rds options of `app` on `target` (verify-full against the cluster's CA), with extra postgres.js settings. */
export const rdsOptionsOn = (
  cluster: ReplicatedCluster,
  app: AppRole,
  target: { host: string; port: number },
  extra: Record<string, unknown> = {},
) => ({
  config: { ...appConfig(cluster, app, target), ...extra },
  tls: { ca: cluster.ca as string },
  logger: { warn() {} },
})
