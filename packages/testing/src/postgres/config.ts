import type { StartPostgresOptions } from './types.ts'

const settingName = /^[A-Za-z_][A-Za-z0-9_.]*$/

/**
 * pg_hba.conf. Only loopback TCP with SCRAM; with TLS only `hostssl` lines exist, so a plaintext connection
 * is refused with 28000 exactly as RDS refuses it when `rds.force_ssl = 1`.
 */
export function hbaConf(tls: boolean): string {
  const kind = tls ? 'hostssl' : 'host'
  return [
    // No `local` line: like RDS, nothing connects through the Unix socket.
    '# written by @rdskit/testing',
    `${kind} all all 127.0.0.1/32 scram-sha-256`,
    `${kind} all all ::1/128 scram-sha-256`,
    '',
  ].join('\n')
}

/** Command-line `-c` settings for the postmaster; user `settings` come last so they win. */
export function serverFlags(args: {
  port: number
  socketDir: string
  tls: { cert: string; key: string } | undefined
  options: StartPostgresOptions
}): string[] {
  const { options } = args
  const settings: Record<string, string> = {
    port: String(args.port),
    listen_addresses: '127.0.0.1',
    unix_socket_directories: args.socketDir,
    // A throwaway cluster gains nothing from surviving a power cut; skipping fsync makes DDL-heavy tests fast.
    fsync: 'off',
    // Clusters usually live in RAM (/dev/shm): keep WAL from growing towards the 1 GB default between checkpoints.
    max_wal_size: '128MB',
    min_wal_size: '32MB',
    max_connections: String(options.maxConnections ?? 100),
  }
  if (options.maxConnections !== undefined) {
    const max = options.maxConnections
    if (!Number.isInteger(max) || max < 1) {
      throw new TypeError(`maxConnections must be a positive integer; got ${JSON.stringify(max)}`)
    }
    // One slot stays reserved for superusers (the admin handle, like rdsadmin on RDS) instead of the default
    // three, so a small limit still leaves room for the roles under test.
    settings.superuser_reserved_connections = String(Math.min(1, max - 1))
  }
  if (args.tls) {
    settings.ssl = 'on'
    settings.ssl_cert_file = args.tls.cert
    settings.ssl_key_file = args.tls.key
  }
  for (const [name, value] of Object.entries(options.settings ?? {})) {
    if (!settingName.test(name)) {
      throw new TypeError(`settings: ${JSON.stringify(name)} is not a PostgreSQL setting name`)
    }
    settings[name] = typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value)
  }
  return Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])
}
