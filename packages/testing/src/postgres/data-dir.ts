import { createHash, randomBytes } from 'node:crypto'
import { access, chown, constants, mkdtemp, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { binaryIdentity, type MajorVersion, type ServerBinaries } from './binaries.ts'
import { type OsUser, serverOsUser, writeOwned } from './os-user.ts'
import { runAs } from './process.ts'
import { serverTempDir } from './reachable.ts'
import { startWatchdog } from './watchdog.ts'

const ramDir = '/dev/shm'
const ramNeeded = 1024 ** 3

/**
 * Where clusters live: RAM (/dev/shm) when it has a gigabyte free, because every write there is several times
 * faster than on a build machine's virtual disk (initdb 0.4 s instead of 1.15 s here); else the temp dir.
 * Docker's default 64 MB /dev/shm falls back to the temp dir (one the server's OS user can reach).
 */
export async function clusterBaseDir(user?: OsUser): Promise<string> {
  try {
    const stats = await statfs(ramDir)
    await access(ramDir, constants.W_OK)
    if (stats.bavail * stats.bsize >= ramNeeded) return ramDir
  } catch {}
  return serverTempDir(user ?? (await serverOsUser()))
}

export interface Template {
  dataDir: string
  /** The superuser password the template was made with; each cluster replaces it with its own at start. */
  password: string
}

const templates = new Map<MajorVersion, Promise<Template>>()

/**
 * An initdb'd data directory per major version, made once per machine (in the temp dir, on disk) and copied
 * for each cluster: copying takes ~60 ms where initdb takes a second. The name carries the binaries' identity
 * (package and version, shared by every checkout) and the uid; a template is built aside and renamed into place, so a half-built one is never used.
 */
export function clusterTemplate(binaries: ServerBinaries, version: MajorVersion, user: OsUser | undefined) {
  let found = templates.get(version)
  if (!found) {
    found = loadOrBuild(binaries, version, user).catch((error: unknown) => {
      templates.delete(version)
      throw error
    })
    templates.set(version, found)
  }
  return found
}

async function loadOrBuild(binaries: ServerBinaries, version: MajorVersion, user: OsUser | undefined) {
  const key = createHash('sha256')
    .update(
      `${await binaryIdentity(binaries.initdb)}\0${process.getuid?.()}\0${initdbArgs('', '').join(' ')}`,
    )
    .digest('hex')
    .slice(0, 12)
  const home = join(await serverTempDir(user), `rdskit-pg-template-${version}-${key}`)
  const existing = await load(home)
  if (existing) return existing

  const building = await mkdtemp(`${home}.build-`)
  // Removes the half-built directory if this process dies while building.
  const watchdog = startWatchdog({ marker: building, dir: building, signal: 'TERM' })
  try {
    if (user) await chown(building, user.uid, user.gid)
    const password = randomBytes(18).toString('base64url')
    const pwfile = join(building, 'pwfile')
    await writeOwned(pwfile, `${password}\n`, 0o600, user)
    await runAs(binaries.initdb, initdbArgs(join(building, 'data'), pwfile), user)
    await rm(pwfile, { force: true })
    await writeFile(join(building, 'password'), password, { mode: 0o600 })
    try {
      await rename(building, home)
    } catch {
      // Another process finished the same template first: use theirs.
      await rm(building, { recursive: true, force: true })
    }
  } catch (error) {
    await rm(building, { recursive: true, force: true })
    throw error
  } finally {
    watchdog.dismiss()
  }
  const built = await load(home)
  if (!built) throw new Error(`PostgreSQL ${version}: the data directory template ${home} is unusable`)
  return built
}

async function load(home: string): Promise<Template | undefined> {
  try {
    const password = await readFile(join(home, 'password'), 'utf8')
    return password ? { dataDir: join(home, 'data'), password } : undefined
  } catch {
    return undefined
  }
}

function initdbArgs(dataDir: string, pwfile: string): string[] {
  return [
    `--pgdata=${dataDir}`,
    '--auth=scram-sha-256',
    '--username=postgres',
    `--pwfile=${pwfile}`,
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]
}

/** A fresh data directory at `dataDir`, copied from the version's template with owners and modes kept. */
export async function provisionDataDir(template: Template, dataDir: string): Promise<void> {
  await runAs('cp', ['-a', template.dataDir, dataDir], undefined)
}
