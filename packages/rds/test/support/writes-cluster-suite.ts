import { type ReplicatedCluster, startReplicatedCluster } from '@rdskit/testing'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { resetAll } from '../helpers.ts'
import { type AppRole, createWrites, onWriter } from './writes-cluster.ts'

/**
 * A test file's replicated cluster (a primary and one standby, TLS, SCRAM): started before its tests with the
 * writes table `app` inserts into, stopped after them; the rds clients a test built are ended after it.
 * Returns the cluster's getter (it exists once the file's tests run).
 */
export function writesClusterPerFile(app: AppRole): () => ReplicatedCluster {
  let cluster: ReplicatedCluster | undefined
  beforeAll(async () => {
    cluster = await startReplicatedCluster({ standbys: 1, tls: true, roles: [app] })
    await onWriter(cluster, (sql) => createWrites(sql, app))
  }, 120_000)
  afterAll(async () => {
    await cluster?.stop()
  }, 60_000)
  afterEach(resetAll)
  return () => {
    if (!cluster)
      throw new Error('writesClusterPerFile: the cluster starts in beforeAll; use it inside a test')
    return cluster
  }
}
