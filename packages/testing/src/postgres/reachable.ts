import { createHash } from 'node:crypto'
import { mkdtemp, realpath, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { ServerBinaries } from './binaries.ts'
import type { OsUser } from './os-user.ts'
import { runAs } from './process.ts'

const reachable = new Map<string, Promise<boolean>>()

/**
 * Whether the server's OS user can reach `path` (execute bit on every directory on the way, and on the file).
 * Asked of the kernel by running `test -x` as that user, so ACLs and supplementary groups count.
 */
export function serverCanReach(path: string, user: OsUser | undefined): Promise<boolean> {
  if (!user) return Promise.resolve(true)
  const key = `${user.uid}\0${path}`
  // Only a yes is remembered: a path out of reach now may be made reachable (the binaries' copy).
  let found = reachable.get(key)
  if (!found) {
    found = runAs('/bin/sh', ['-c', 'test -x "$1"', 'rdskit-reach', path], user).then(
      () => true,
      () => {
        reachable.delete(key)
        return false
      },
    )
    reachable.set(key, found)
  }
  return found
}

/**
 * A temp directory the server's OS user can reach: TMPDIR when it can, else /tmp. A root user whose TMPDIR lies
 * in a private (0700) home would otherwise hand PostgreSQL a data directory it cannot open.
 */
export async function serverTempDir(user: OsUser | undefined): Promise<string> {
  for (const dir of [tmpdir(), '/tmp']) if (await serverCanReach(dir, user)) return dir
  throw new Error(
    `neither ${tmpdir()} nor /tmp can be entered by the \`postgres\` OS user that PostgreSQL runs as under root; ` +
      'give it search (x) permission on /tmp',
  )
}

const copies = new Map<string, Promise<ServerBinaries>>()

/**
 * The server binaries at a path the server's OS user can execute. Under root with the checkout in a private
 * (0700) directory, node_modules is out of its reach: the package's `native` tree (bin, lib, share) is then
 * copied once per machine into the temp dir (hard links when on the same file system), built aside and renamed
 * into place so a half-made copy is never used.
 */
export async function reachableBinaries(
  binaries: ServerBinaries,
  user: OsUser | undefined,
): Promise<ServerBinaries> {
  if (await serverCanReach(binaries.postgres, user)) return binaries
  const native = dirname(dirname(await realpath(binaries.postgres)))
  let found = copies.get(native)
  if (!found) {
    found = copyNative(native, user).catch((error: unknown) => {
      copies.delete(native)
      throw error
    })
    copies.set(native, found)
  }
  return found
}

async function copyNative(native: string, user: OsUser | undefined): Promise<ServerBinaries> {
  // Named after the binary's identity, not its path: every checkout (or hard-linked copy) shares one copy.
  const binary = await stat(join(native, 'bin', 'postgres'))
  const key = createHash('sha256')
    .update(`${binary.dev}:${binary.ino}:${binary.size}:${binary.mtimeMs}`)
    .digest('hex')
    .slice(0, 12)
  const home = join(await serverTempDir(user), `rdskit-pg-binaries-${key}`)
  const at = (dir: string): ServerBinaries => ({
    initdb: join(dir, 'bin', 'initdb'),
    postgres: join(dir, 'bin', 'postgres'),
  })
  if (await serverCanReach(at(home).postgres, user)) return at(home)
  const building = await mkdtemp(`${home}.build-`)
  try {
    const copy = join(building, 'native')
    await runAs('cp', ['-al', native, copy], undefined).catch(() =>
      runAs('cp', ['-a', native, copy], undefined),
    )
    await runAs('chmod', ['-R', 'go+rX', building], undefined)
    await rename(copy, home).catch(() => {}) // another process made the same copy first: use theirs
  } finally {
    await rm(building, { recursive: true, force: true })
  }
  if (!(await serverCanReach(at(home).postgres, user)))
    throw new Error(
      `the PostgreSQL binaries copied to ${home} cannot be executed by the \`postgres\` OS user`,
    )
  return at(home)
}
