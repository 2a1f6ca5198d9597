import type { Sql } from 'postgres'
import { connect, type ServerTarget } from '../postgres/connection.ts'
import type { ClusterNode } from './node.ts'

/** What every node shares: the superuser, the CA, the replication role's password, the CA file for libpq. */
export interface Credentials {
  password: string
  ca: string | undefined
  caFile: string | undefined
  replicationPassword: string
}

export function serverTarget(port: number, credentials: Credentials): ServerTarget {
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password: credentials.password,
    database: 'postgres',
    ssl: credentials.ca ? { ca: credentials.ca, rejectUnauthorized: true } : undefined,
    url: undefined,
  }
}

/** Runs `work` on a fresh one-connection superuser handle to `node`, then ends it. */
export async function onNode<T>(
  node: ClusterNode,
  credentials: Credentials,
  work: (sql: Sql) => Promise<T>,
): Promise<T> {
  const sql = connect(serverTarget(node.port, credentials), 'postgres', {
    max: 1,
    connect_timeout: 5,
    connection: { application_name: 'rdskit-testing-admin' },
  })
  try {
    return await work(sql)
  } finally {
    await sql.end({ timeout: 0 })
  }
}

/** Polls `check` every 20 ms until it is true (a condition, not a sleep), failing after `timeoutMs` with `what`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen within ${timeoutMs} ms`, { cause: last })
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Resolves once `writer` streams to every node of `followers`; the error carries their last log lines. */
export async function waitForStreaming(
  writer: ClusterNode,
  followers: ClusterNode[],
  credentials: Credentials,
  timeoutMs = 30_000,
): Promise<void> {
  const names = followers.map((node) => node.name)
  try {
    await until(
      `streaming from ${writer.name} to ${names.join(', ')}`,
      () =>
        onNode(writer, credentials, async (sql) => {
          const rows = await sql`select application_name from pg_stat_replication where state = 'streaming'`
          const streaming = new Set(rows.map((row) => row.application_name as string))
          return names.every((name) => streaming.has(name))
        }),
      timeoutMs,
    )
  } catch (error) {
    const logs = followers.map((node) => `--- ${node.name}:\n${node.log()}`).join('\n')
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error })
  }
}
