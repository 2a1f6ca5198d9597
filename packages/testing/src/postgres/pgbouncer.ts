import { chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { waitForPort } from '../net/free-port.ts'
import { findSystemBinary } from '../system-binary.ts'
import { serverOsUser, writeOwned } from './os-user.ts'
import type { PgBouncer, StartPgBouncerOptions } from './pgbouncer.types.ts'
import { pgBouncerIni, pgBouncerSettings, userList } from './pgbouncer-config.ts'
import { startOnFreePort } from './process.ts'
import { serverTempDir } from './reachable.ts'
import { makeServerCertificates } from './tls.ts'
import { startWatchdog } from './watchdog.ts'

/**
 * Debian's PgBouncer on 127.0.0.1 in front of `upstream`, in transaction mode unless told otherwise: the
 * stand-in for RDS Proxy. As root it runs as the `postgres` OS user (PgBouncer refuses root).
 */
export async function startPgBouncer(options: StartPgBouncerOptions): Promise<PgBouncer> {
  const settings = pgBouncerSettings(options)
  const binary = findSystemBinary('pgbouncer')
  if (!binary) {
    throw new Error(
      'startPgBouncer: pgbouncer is not installed (apt-get install -y pgbouncer); tests call requireSystemBinary("pgbouncer") first to skip locally',
    )
  }
  const user = await serverOsUser()
  const dir = await mkdtemp(join(await serverTempDir(user), 'rdskit-pgbouncer-'))
  const ini = join(dir, 'pgbouncer.ini')
  const watchdog = startWatchdog({ marker: ini, dir, signal: 'TERM' })
  let stopProcess: (() => Promise<void>) | undefined
  try {
    if (user) await chown(dir, user.uid, user.gid)
    await chmod(dir, 0o700)
    const authFile = join(dir, 'userlist.txt')
    await writeOwned(authFile, userList(settings.users), 0o600, user)
    const caFile = options.upstream.ca ? join(dir, 'upstream-ca.pem') : undefined
    if (caFile) await writeOwned(caFile, options.upstream.ca as string, 0o644, user)
    const certificates = options.tls ? await makeServerCertificates('rdskit test PgBouncer') : undefined
    const clientTls = certificates && { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') }
    if (certificates && clientTls) {
      await writeOwned(clientTls.cert, certificates.cert, 0o644, user)
      await writeOwned(clientTls.key, certificates.key, 0o600, user)
    }

    const server = await startOnFreePort({
      file: binary,
      argvFor: async (port) => {
        await writeOwned(
          ini,
          pgBouncerIni({ options, settings, port, authFile, caFile, clientTls }),
          0o600,
          user,
        )
        return [ini]
      },
      user,
      ready: /process up/,
      timeoutMs: 15_000,
      name: 'PgBouncer',
      watchdog,
      // SIGTERM is PgBouncer's immediate shutdown; SIGINT would wait for open transactions.
      stopSignal: 'SIGTERM',
      graceMs: 5_000,
    })
    stopProcess = server.stop
    const { pid, port } = server
    await waitForPort('127.0.0.1', port, 5_000)

    let stopping: Promise<void> | undefined
    const defaultDatabase = options.upstream.database ?? 'postgres'
    return {
      host: '127.0.0.1',
      port,
      pid,
      poolMode: settings.poolMode,
      ca: certificates?.ca,
      dir,
      url(
        login = { name: options.upstream.user, password: options.upstream.password },
        database = defaultDatabase,
      ) {
        const auth = `${encodeURIComponent(login.name)}:${encodeURIComponent(login.password)}`
        const query = certificates ? '?sslmode=verify-full' : ''
        return `postgres://${auth}@127.0.0.1:${port}/${encodeURIComponent(database)}${query}`
      },
      stop() {
        stopping ??= (async () => {
          await stopProcess?.()
          watchdog.dismiss()
          await rm(dir, { recursive: true, force: true })
        })()
        return stopping
      },
    }
  } catch (error) {
    await stopProcess?.().catch(() => {})
    watchdog.dismiss()
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}
