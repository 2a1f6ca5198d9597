import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hbaConf, serverFlags } from '../postgres/config.ts'
import { type OsUser, writeOwned } from '../postgres/os-user.ts'
import { quoteLiteral } from '../postgres/sql-text.ts'

export const replicationRole = 'rdskit_replication'

/** Settings that move with failover: ALTER SYSTEM owns them, so they may never be command-line flags. */
const owned = ['primary_conninfo', 'synchronous_standby_names', 'port']

/** pg_hba.conf of every node: the single-node lines plus streaming replication for the replication role. */
export function replicationHba(tls: boolean): string {
  const kind = tls ? 'hostssl' : 'host'
  return `${hbaConf(tls)}${kind} replication ${replicationRole} 127.0.0.1/32 scram-sha-256\n`
}

/** The postmaster flags of a node: the single-node flags, plus what streaming replication and fast recovery need. */
export function replicationFlags(args: {
  port: number
  socketDir: string
  tls: { cert: string; key: string } | undefined
  settings: Record<string, string | number | boolean> | undefined
}): string[] {
  for (const name of Object.keys(args.settings ?? {})) {
    if (owned.includes(name)) throw new TypeError(`settings: ${name} is managed by startReplicatedCluster`)
  }
  const settings = {
    wal_level: 'replica',
    hot_standby: 'on',
    max_wal_senders: 10,
    // No replication slots (a copied slot would pin WAL on the copy): keep enough WAL for a standby to catch up.
    wal_keep_size: '256MB',
    // A standby whose writer restarted reconnects within 100 ms instead of 5 s.
    wal_retrieve_retry_interval: '100ms',
    wal_receiver_status_interval: '1s',
    ...args.settings,
  }
  return serverFlags({ port: args.port, socketDir: args.socketDir, tls: args.tls, options: { settings } })
}

/** libpq connection string of a standby's WAL receiver; `application_name` is what synchronous_standby_names names. */
export function primaryConninfo(args: {
  port: number
  password: string
  applicationName: string
  caFile: string | undefined
}): string {
  const value = (text: string) => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
  const parts = [
    'host=127.0.0.1',
    `port=${args.port}`,
    `user=${replicationRole}`,
    `password=${value(args.password)}`,
    `application_name=${value(args.applicationName)}`,
    'connect_timeout=2',
    args.caFile
      ? // No client certificate; else libpq opens ~/.postgresql/postgresql.crt of the inherited HOME (root's).
        `sslmode=verify-full sslrootcert=${value(args.caFile)} sslcert=${value(`${args.caFile}.no-client-cert`)} sslkey=${value(`${args.caFile}.no-client-key`)}`
      : 'sslmode=disable',
  ]
  return parts.join(' ')
}

/** `synchronous_standby_names` for a writer whose standbys are `names`: any one of them acknowledges a commit. */
export function synchronousNames(names: string[]): string {
  return names.length === 0 ? '' : `ANY 1 (${names.map((name) => `"${name}"`).join(', ')})`
}

/** Sets entries of postgresql.auto.conf of a stopped node, as ALTER SYSTEM would. */
export async function setAutoConf(
  dataDir: string,
  entries: Record<string, string>,
  user: OsUser | undefined,
): Promise<void> {
  const file = join(dataDir, 'postgresql.auto.conf')
  const text = await readFile(file, 'utf8').catch(() => '')
  const kept = text
    .split('\n')
    .filter((line) => line && !Object.keys(entries).some((name) => line.trimStart().startsWith(`${name} `)))
  const added = Object.entries(entries).map(([name, value]) => `${name} = ${quoteLiteral(value)}`)
  await writeOwned(file, `${[...kept, ...added].join('\n')}\n`, 0o600, user)
}
