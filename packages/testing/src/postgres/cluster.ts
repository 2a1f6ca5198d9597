import { assembleCluster, createRoles, noControl } from './assemble.ts'
import { targetFromUrl } from './connection.ts'
import { startLocalCluster } from './local-cluster.ts'
import { passwordClause, quoteIdent } from './sql-text.ts'
import type { PostgresCluster, StartPostgresOptions } from './types.ts'

/** Options that only a server this process controls can honour. */
function needsOwnServer(options: StartPostgresOptions): boolean {
  return Boolean(
    options.throwaway ||
      options.tls ||
      options.version !== undefined ||
      options.maxConnections !== undefined ||
      Object.keys(options.settings ?? {}).length > 0,
  )
}

/**
 * A throwaway PostgreSQL cluster on 127.0.0.1 (see StartPostgresOptions). When TEST_DATABASE_URL is set and the
 * options need no control over the server, the external server is used instead: `external` is true, `pid`
 * undefined, pause/resume throw, stop() only closes the handles.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  if (!options || typeof options !== 'object')
    throw new TypeError('startPostgres(options): options must be an object')
  validateRoles(options.roles)
  const externalUrl = process.env.TEST_DATABASE_URL
  if (externalUrl && !needsOwnServer(options)) return attachExternal(externalUrl, options)
  return startLocalCluster(options)
}

export async function attachExternal(
  url: string,
  options: StartPostgresOptions = {},
): Promise<PostgresCluster> {
  const cluster = await assembleCluster({
    target: targetFromUrl(url),
    ca: undefined,
    external: true,
    control: noControl(
      'the server is the external one TEST_DATABASE_URL names, which this process does not control; ' +
        'pass { throwaway: true } to startPostgres() for a local cluster',
    ),
  })
  await createRoles(cluster, options)
  return cluster
}

/** Fails before anything starts when a role in `roles` could not be created. */
function validateRoles(roles: StartPostgresOptions['roles']): void {
  if (roles === undefined) return
  if (!Array.isArray(roles))
    throw new TypeError('startPostgres: roles must be an array of { name, password }')
  for (const [index, role] of roles.entries()) {
    try {
      quoteIdent(role?.name, 'name')
      passwordClause(role?.password, role?.validUntil)
    } catch (error) {
      throw new TypeError(`startPostgres: roles[${index}]: ${(error as Error).message}`)
    }
  }
}
