import type { TestProject } from 'vitest/node'
import { attachExternal, startPostgres } from '../postgres/cluster.ts'
import { providedKey, type SharedClusterInfo } from './provided.ts'

/**
 * Vitest global setup: one cluster for the whole run (or the server TEST_DATABASE_URL names), provided to every
 * test file; `sharedPostgres` in the files reads it. Wire it with `globalSetup: ['@rdskit/testing/global-setup']`.
 * The cluster is TLS-only (hostssl, as RDS with `rds.force_ssl`): tests connect with verify-full against its
 * `ca`, and a test whose subject is plain TCP starts a cluster of its own.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const externalUrl = process.env.TEST_DATABASE_URL
  const cluster = externalUrl
    ? await attachExternal(externalUrl)
    : // Every test file holds a few connections at once: leave room above the default 100.
      await startPostgres({ throwaway: true, tls: true, maxConnections: 300 })
  const info: SharedClusterInfo = {
    host: cluster.host,
    port: cluster.port,
    user: cluster.user,
    password: cluster.password,
    database: cluster.database,
    url: cluster.url,
    version: cluster.version,
    ca: cluster.ca,
    pid: cluster.pid,
    external: cluster.external,
  }
  project.provide(providedKey, info)
  return () => cluster.stop()
}
