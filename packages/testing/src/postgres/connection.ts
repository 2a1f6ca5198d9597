import postgres, { type Options, type Sql } from 'postgres'
import type { ConnectionInfo } from './types.ts'

/** Where a server is and how to reach it: a throwaway cluster, the TEST_DATABASE_URL server, or the shared one. */
export interface ServerTarget {
  host: string
  port: number
  user: string
  password: string
  database: string
  /** postgres.js `ssl` for handles made here (the CA when the cluster is TLS-only). */
  ssl: Options<Record<string, never>>['ssl'] | undefined
  /** The external server's own URL: handles inherit its query options (sslmode, …). */
  url: string | undefined
}

export const adminApplicationName = 'rdskit-testing-admin'

export function connectionInfo(target: ServerTarget, database = target.database): ConnectionInfo {
  let url: string
  if (target.url) {
    const parsed = new URL(target.url)
    parsed.pathname = `/${encodeURIComponent(database)}`
    url = parsed.toString()
  } else {
    const auth = `${encodeURIComponent(target.user)}:${encodeURIComponent(target.password)}`
    url = `postgres://${auth}@${target.host}:${target.port}/${encodeURIComponent(database)}`
    if (target.ssl) url += '?sslmode=verify-full'
  }
  return { host: target.host, port: target.port, user: target.user, password: target.password, database, url }
}

/** A postgres.js handle on `database` as the target's (admin) user. */
export function connect(
  target: ServerTarget,
  database: string,
  extra: Options<Record<string, never>> = {},
): Sql {
  const options: Options<Record<string, never>> = {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database,
    onnotice: () => {},
    ...(target.ssl ? { ssl: target.ssl } : {}),
    ...extra,
  }
  return target.url ? postgres(target.url, options) : postgres(options)
}

/** Reads host, port, user, password and database out of a postgres:// URL (TEST_DATABASE_URL). */
export function targetFromUrl(url: string, variable = 'TEST_DATABASE_URL'): ServerTarget {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TypeError(`${variable} is not a URL; expected postgres://user:password@host:port/database`)
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new TypeError(`${variable} must start with postgres:// (got ${parsed.protocol}//…)`)
  }
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username || 'postgres'),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1)) || 'postgres',
    ssl: undefined,
    url,
  }
}
