import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { adminHelpers } from '../postgres/admin.ts'
import { provisionDataDir } from '../postgres/data-dir.ts'
import { writeOwned } from '../postgres/os-user.ts'
import { runAs } from '../postgres/process.ts'
import { serverSetup } from '../postgres/server-setup.ts'
import { passwordClause, quoteLiteral } from '../postgres/sql-text.ts'
import { makeServerCertificates } from '../postgres/tls.ts'
import type { RoleSpec } from '../postgres/types.ts'
import { startWatchdog } from '../postgres/watchdog.ts'
import { type Credentials, onNode, serverTarget, waitForStreaming } from './admin.ts'
import { assemble } from './assemble.ts'
import {
  primaryConninfo,
  replicationFlags,
  replicationHba,
  replicationRole,
  setAutoConf,
  synchronousNames,
} from './config.ts'
import { type ClusterNode, createNode } from './node.ts'
import { type ClusterState, nodeAt } from './state.ts'
import type { ReplicatedCluster, StartReplicatedClusterOptions } from './types.ts'

function validate(options: StartReplicatedClusterOptions): number {
  if (!options || typeof options !== 'object')
    throw new TypeError('startReplicatedCluster(options): options must be an object')
  const standbys = options.standbys ?? 1
  if (!Number.isInteger(standbys) || standbys < 1 || standbys > 8)
    throw new TypeError(
      `startReplicatedCluster: standbys must be an integer from 1 to 8; got ${JSON.stringify(standbys)}`,
    )
  replicationFlags({ port: 0, socketDir: '', tls: undefined, settings: options.settings })
  return standbys
}

/**
 * A writer and `standbys` streaming standbys on 127.0.0.1, with a cluster endpoint and a reader endpoint (see
 * ReplicatedCluster). Standbys are copies of the cleanly stopped writer's data directory with `standby.signal`
 * and `primary_conninfo` (the embedded binaries ship no pg_basebackup). Everything stops and is removed if this
 * process dies.
 */
export async function startReplicatedCluster(
  options: StartReplicatedClusterOptions = {},
): Promise<ReplicatedCluster> {
  const standbyCount = validate(options)
  const setup = await serverSetup(options.version)
  const { user } = setup
  const root = await mkdtemp(join(setup.baseDir, 'rdskit-pg-replicated-'))
  // Learns no PID: when this process dies its pipe closes and it removes the whole tree.
  const rootWatchdog = startWatchdog({ marker: join(root, 'no-such-process'), dir: root, signal: 'INT' })
  const nodes: ClusterNode[] = []
  const cleanup = async () => {
    await Promise.allSettled(nodes.map((node) => node.stop('fast')))
    rootWatchdog.dismiss()
    await rm(root, { recursive: true, force: true })
  }
  try {
    if (user) await chown(root, user.uid, user.gid)
    await chmod(root, 0o700)
    const certificates = options.tls ? await makeServerCertificates('rdskit replicated cluster') : undefined
    const tls = certificates && { cert: join(root, 'server.crt'), key: join(root, 'server.key') }
    const caFile = certificates && join(root, 'ca.crt')
    if (certificates && tls && caFile) {
      await writeOwned(tls.cert, certificates.cert, 0o644, user)
      await writeOwned(tls.key, certificates.key, 0o600, user)
      await writeOwned(caFile, certificates.ca, 0o644, user)
    }
    for (let index = 0; index <= standbyCount; index++) {
      nodes.push(
        createNode({
          index,
          root,
          postgres: setup.binaries.postgres,
          user,
          flags: (port, dir) => replicationFlags({ port, socketDir: dir, tls, settings: options.settings }),
        }),
      )
    }
    const credentials: Credentials = {
      password: randomBytes(18).toString('base64url'),
      ca: certificates?.ca,
      caFile,
      replicationPassword: randomBytes(18).toString('base64url'),
    }
    const state: ClusterState = {
      nodes,
      writer: 0,
      endpointTarget: 0,
      credentials,
      synchronous: Boolean(options.synchronous),
      user,
    }
    await buildNodes(state, setup.template, Boolean(options.tls))
    const cluster = await assemble(state, setup.version, root, cleanup)
    try {
      for (const role of options.roles ?? []) await createRole(state, role)
    } catch (error) {
      await cluster.stop()
      throw error
    }
    return cluster
  } catch (error) {
    await cleanup()
    throw error
  }
}

async function createRole(state: ClusterState, role: RoleSpec) {
  const writer = nodeAt(state, state.writer)
  await onNode(writer, state.credentials, (sql) =>
    adminHelpers(serverTarget(writer.port, state.credentials), sql, new Set()).createRole(role),
  )
}

/**
 * The writer is made from the template and started once to set its own superuser password and create the
 * replication role; then it is stopped cleanly and copied for each standby, and every node starts.
 */
async function buildNodes(
  state: ClusterState,
  template: { dataDir: string; password: string },
  tls: boolean,
) {
  const { nodes, user, credentials } = state
  const [writer, ...standbys] = nodes as [ClusterNode, ...ClusterNode[]]
  for (const node of nodes) {
    await mkdir(node.dir)
    if (user) await chown(node.dir, user.uid, user.gid)
    await chmod(node.dir, 0o700)
  }
  await provisionDataDir(template, writer.dataDir)
  await writeOwned(join(writer.dataDir, 'pg_hba.conf'), replicationHba(tls), 0o600, user)
  await writer.start('writer')
  await onNode(writer, { ...credentials, password: template.password }, async (sql) => {
    await sql.unsafe(`alter role postgres ${passwordClause(credentials.password, undefined)}`)
    await sql.unsafe(
      `create role ${replicationRole} replication login ${passwordClause(credentials.replicationPassword, undefined)}`,
    )
    const names = state.synchronous ? synchronousNames(standbys.map((node) => node.name)) : ''
    await sql.unsafe(`alter system set synchronous_standby_names = ${quoteLiteral(names)}`)
  })
  await writer.stop('fast')
  await Promise.all(
    standbys.map(async (node) => {
      await runAs('cp', ['-a', writer.dataDir, node.dataDir], undefined)
      await setAutoConf(
        node.dataDir,
        {
          primary_conninfo: primaryConninfo({
            port: writer.port,
            password: credentials.replicationPassword,
            applicationName: node.name,
            caFile: credentials.caFile,
          }),
        },
        user,
      )
      await writeOwned(join(node.dataDir, 'standby.signal'), '', 0o600, user)
    }),
  )
  await Promise.all([writer.start('writer'), ...standbys.map((node) => node.start('standby'))])
  await waitForStreaming(writer, standbys, credentials)
}
