import { execFile } from 'node:child_process'
import { chmod, chown, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface OsUser {
  uid: number
  gid: number
}

let pending: Promise<OsUser | undefined> | undefined

/**
 * PostgreSQL and PgBouncer refuse to run as root. As root we run them as the `postgres` OS user, creating it
 * when missing; as anyone else they run as the current user (undefined). Several vitest processes may get
 * here at the same moment, so creation goes through flock and treats "already exists" as success.
 */
export function serverOsUser(): Promise<OsUser | undefined> {
  if (process.getuid?.() !== 0) return Promise.resolve(undefined)
  pending ??= lookupOrCreate().catch((error: unknown) => {
    pending = undefined
    throw error
  })
  return pending
}

async function lookupOrCreate(): Promise<OsUser> {
  const existing = await lookup()
  if (existing) return existing
  const script =
    'getent group postgres >/dev/null || groupadd --system postgres || getent group postgres >/dev/null; ' +
    'id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home -g postgres postgres || id -u postgres >/dev/null 2>&1'
  try {
    await run('flock', ['/tmp/rdskit-postgres-user.lock', 'sh', '-c', script])
  } catch (cause) {
    throw new Error('could not create the `postgres` OS user that PostgreSQL runs as when started by root', {
      cause,
    })
  }
  const created = await lookup()
  if (!created) throw new Error('the `postgres` OS user is still missing after useradd')
  return created
}

async function lookup(): Promise<OsUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) }
  } catch {
    return undefined
  }
}

/** Writes a file the server (running as `user`) owns, with exactly `mode` whatever the umask. */
export async function writeOwned(
  path: string,
  text: string,
  mode: number,
  user: OsUser | undefined,
): Promise<void> {
  await writeFile(path, text, { mode })
  await chmod(path, mode)
  if (user) await chown(path, user.uid, user.gid)
}
