import type { StartPgBouncerOptions } from './pgbouncer.types.ts'

const poolModes = ['session', 'transaction', 'statement'] as const

export interface PgBouncerSettings {
  poolMode: (typeof poolModes)[number]
  poolSize: number
  maxClientConnections: number
  users: { name: string; password: string }[]
}

function positiveInteger(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new TypeError(`startPgBouncer: ${option} must be a positive integer; got ${JSON.stringify(value)}`)
  }
  return value as number
}

function plainText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || /[\0\r\n]/.test(value)) {
    throw new TypeError(`startPgBouncer: ${field} must be a non-empty single-line string`)
  }
  return value
}

/** Checks the options and fills the defaults (transaction mode, 5 server connections, 500 clients). */
export function pgBouncerSettings(options: StartPgBouncerOptions): PgBouncerSettings {
  if (!options?.upstream || typeof options.upstream !== 'object') {
    throw new TypeError(
      'startPgBouncer: upstream { host, port, user, password } is required (e.g. a cluster)',
    )
  }
  const { upstream } = options
  plainText(upstream.host, 'upstream.host')
  plainText(upstream.user, 'upstream.user')
  plainText(upstream.password, 'upstream.password')
  positiveInteger(upstream.port, 'upstream.port', 0)
  const poolMode = options.poolMode ?? 'transaction'
  if (!poolModes.includes(poolMode)) {
    throw new TypeError(
      `startPgBouncer: poolMode must be one of ${poolModes.join(', ')}; got ${JSON.stringify(poolMode)}`,
    )
  }
  const users = [{ name: upstream.user, password: upstream.password }]
  for (const [index, user] of (options.users ?? []).entries()) {
    users.push({
      name: plainText(user?.name, `users[${index}].name`),
      password: plainText(user?.password, `users[${index}].password`),
    })
  }
  return {
    poolMode,
    poolSize: positiveInteger(options.poolSize, 'poolSize', 5),
    maxClientConnections: positiveInteger(options.maxClientConnections, 'maxClientConnections', 500),
    users,
  }
}

const quote = (value: string) => `"${value.replaceAll('"', '""')}"`

/** userlist.txt: plaintext passwords, so PgBouncer can answer SCRAM from clients and log in to the server. */
export function userList(users: PgBouncerSettings['users']): string {
  return `${users.map((user) => `${quote(user.name)} ${quote(user.password)}`).join('\n')}\n`
}

export function pgBouncerIni(args: {
  options: StartPgBouncerOptions
  settings: PgBouncerSettings
  port: number
  authFile: string
  caFile: string | undefined
  clientTls: { cert: string; key: string } | undefined
}): string {
  const { upstream } = args.options
  return [
    '; written by @rdskit/testing',
    '[databases]',
    // Any database name the client asks for is forwarded to the same name upstream.
    `* = host=${upstream.host} port=${upstream.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${args.port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${args.authFile}`,
    `pool_mode = ${args.settings.poolMode}`,
    `default_pool_size = ${args.settings.poolSize}`,
    `max_client_conn = ${args.settings.maxClientConnections}`,
    // postgres.js sends these startup parameters; PgBouncer would refuse the client otherwise.
    'ignore_startup_parameters = extra_float_digits,options',
    ...(args.caFile ? ['server_tls_sslmode = verify-full', `server_tls_ca_file = ${args.caFile}`] : []),
    ...(args.clientTls
      ? [
          'client_tls_sslmode = require',
          `client_tls_cert_file = ${args.clientTls.cert}`,
          `client_tls_key_file = ${args.clientTls.key}`,
        ]
      : []),
    '',
  ].join('\n')
}
