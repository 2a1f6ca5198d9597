import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { assembleCluster, createRoles } from './assemble.ts'
import { hbaConf, serverFlags } from './config.ts'
import { connect, type ServerTarget } from './connection.ts'
import { provisionDataDir } from './data-dir.ts'
import { writeOwned } from './os-user.ts'
import { descendants, signal, startOnFreePort } from './process.ts'
import { serverSetup } from './server-setup.ts'
import { passwordClause } from './sql-text.ts'
import { makeServerCertificates } from './tls.ts'
import type { PostgresCluster, StartPostgresOptions } from './types.ts'
import { startWatchdog } from './watchdog.ts'

/** initdb + postmaster in a fresh temp dir, on a free loopback port, watched so it dies with this process. */
export async function startLocalCluster(options: StartPostgresOptions): Promise<PostgresCluster> {
  // Validates `settings` and `maxConnections` before any work is done.
  serverFlags({ port: 0, socketDir: '', tls: undefined, options })
  const { version, binaries, user, baseDir, template } = await serverSetup(options.version)
  const root = await mkdtemp(join(baseDir, 'rdskit-pg-'))
  const dataDir = join(root, 'data')
  // The watchdog exists before anything else, so even a crash during the copy leaves no directory behind.
  const watchdog = startWatchdog({ marker: dataDir, dir: root, signal: 'INT' })
  let stopServer: (() => Promise<void>) | undefined
  try {
    if (user) await chown(root, user.uid, user.gid)
    await chmod(root, 0o700)
    const [certificates] = await Promise.all([
      options.tls ? makeServerCertificates() : undefined,
      provisionDataDir(template, dataDir),
    ])
    await writeOwned(join(dataDir, 'pg_hba.conf'), hbaConf(Boolean(options.tls)), 0o600, user)
    const tls = certificates && { cert: join(root, 'server.crt'), key: join(root, 'server.key') }
    if (certificates && tls) {
      await writeOwned(tls.cert, certificates.cert, 0o644, user)
      await writeOwned(tls.key, certificates.key, 0o600, user)
    }

    const server = await startOnFreePort({
      file: binaries.postgres,
      argvFor: async (port) => ['-D', dataDir, ...serverFlags({ port, socketDir: root, tls, options })],
      user,
      ready: /database system is ready to accept connections/,
      timeoutMs: 60_000,
      name: `PostgreSQL ${version}`,
      watchdog,
      // SIGINT is PostgreSQL's fast shutdown: sessions are cut, nothing waits for clients.
      stopSignal: 'SIGINT',
      graceMs: 10_000,
    })
    stopServer = server.stop
    const { pid, port } = server

    const target: ServerTarget = {
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: template.password,
      database: 'postgres',
      ssl: certificates ? { ca: certificates.ca, rejectUnauthorized: true } : undefined,
      url: undefined,
    }
    // Every copy of the template starts with the template's password: give this cluster its own.
    target.password = await replaceSuperuserPassword(target)
    let stopped: number[] = []
    const cluster = await assembleCluster({
      target,
      ca: certificates?.ca,
      external: false,
      dir: root,
      control: {
        pid,
        // Postmaster first, so it cannot fork a fresh backend while the others are being stopped.
        async pause() {
          signal(pid, 'SIGSTOP')
          stopped = descendants(pid)
          for (const child of stopped) signal(child, 'SIGSTOP')
        },
        async resume() {
          for (const child of new Set([...stopped, ...descendants(pid)])) signal(child, 'SIGCONT')
          signal(pid, 'SIGCONT')
          stopped = []
        },
        async stop() {
          await stopServer?.()
          watchdog.dismiss()
          await rm(root, { recursive: true, force: true })
        },
      },
    })
    await createRoles(cluster, options)
    return cluster
  } catch (error) {
    await stopServer?.().catch(() => {})
    watchdog.dismiss()
    await rm(root, { recursive: true, force: true })
    throw error
  }
}

async function replaceSuperuserPassword(target: ServerTarget): Promise<string> {
  const password = randomBytes(18).toString('base64url')
  const sql = connect(target, 'postgres', { max: 1 })
  try {
    await sql.unsafe(`alter role postgres ${passwordClause(password, undefined)}`)
  } finally {
    await sql.end({ timeout: 0 })
  }
  return password
}
