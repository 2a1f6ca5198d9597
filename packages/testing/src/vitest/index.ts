import { afterAll, inject } from 'vitest'
import { assembleCluster, noControl } from '../postgres/assemble.ts'
import { targetFromUrl } from '../postgres/connection.ts'
import type { PostgresCluster, TestDatabase } from '../postgres/types.ts'
import { providedKey } from './provided.ts'
import type { SharedPostgres } from './types.ts'

export type { SharedClusterInfo } from './provided.ts'
export type { SharedPostgres } from './types.ts'

let view: Promise<PostgresCluster> | undefined
let close: (() => Promise<void>) | undefined
const databases = new Set<TestDatabase>()

async function cleanUp(): Promise<void> {
  const pending = [...databases]
  databases.clear()
  await Promise.allSettled(pending.map((database) => database.drop()))
  const closing = close
  view = undefined
  close = undefined
  await closing?.()
}

/*
 * Test files import this module while vitest collects them, so an afterAll registered here belongs to the
 * importing file (vitest isolates modules per file by default). It also covers testDatabase() called inside
 * beforeAll or a test, where vitest ignores newly registered afterAll hooks.
 */
try {
  afterAll(cleanUp)
} catch {}

function connectShared(): Promise<PostgresCluster> {
  const info = inject(providedKey)
  if (!info) {
    return Promise.reject(
      new Error(
        "sharedPostgres needs the run-wide cluster: add globalSetup: ['@rdskit/testing/global-setup'] to this package's vitest.config.ts",
      ),
    )
  }
  const target = info.external
    ? targetFromUrl(info.url)
    : {
        ...info,
        ssl: info.ca ? { ca: info.ca, rejectUnauthorized: true } : undefined,
        url: undefined,
      }
  return assembleCluster({
    target,
    ca: info.ca,
    external: info.external,
    control: noControl(
      'the run-wide cluster is shared by every test file running in parallel; start your own with startPostgres() to pause it',
    ),
  }).then((cluster) => {
    close = cluster.stop
    // The global setup owns the server: stop() on the shared view must not close what other tests still use.
    return { ...cluster, pid: info.pid, stop: async () => {} }
  })
}

/**
 * The run-wide cluster from `@rdskit/testing/global-setup`, and a database per test file on it:
 *
 * ```ts
 * const db = await sharedPostgres.testDatabase() // top level of the test file; dropped after the file
 * ```
 */
export const sharedPostgres: SharedPostgres = {
  cluster() {
    view ??= connectShared().catch((error: unknown) => {
      view = undefined
      throw error
    })
    return view
  },
  async testDatabase() {
    const cluster = await sharedPostgres.cluster()
    const database = await cluster.createDatabase()
    databases.add(database)
    try {
      afterAll(() => database.drop())
    } catch {}
    return database
  },
}
