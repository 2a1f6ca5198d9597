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

/** Connection settings of `app` through the cluster endpoint (the DNS name that follows the writer). */
export function endpointConfig(cluster: ReplicatedCluster, app: AppRole): WriterSpec['config'] {
  const endpoint = cluster.endpoint()
  return {
    host: endpoint.host,
    port: endpoint.port,
    database: cluster.database,
    username: app.name,
    password: app.password,
  }
}
