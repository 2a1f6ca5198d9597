import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, resolve } from 'node:path'
import type { OsUser } from './os-user.ts'

/**
 * Whether `user` may search every directory from `/` down to `dir` (so reach files inside it), judged by the
 * mode bits. A checkout under root's 0700 home fails this for the `postgres` user, which is why the server's
 * binaries and data may have to live elsewhere. ACLs and supplementary groups are not consulted: a false
 * "no" only costs a copy.
 */
export async function reachableBy(dir: string, user: OsUser | undefined): Promise<boolean> {
  if (!user) return true
  let current = resolve(dir)
  for (;;) {
    try {
      const { uid, gid, mode } = await stat(current)
      const searchBit = uid === user.uid ? 0o100 : gid === user.gid ? 0o010 : 0o001
      if ((mode & searchBit) === 0) return false
    } catch {
      return false
    }
    const parent = dirname(current)
    if (parent === current) return true
    current = parent
  }
}

/**
 * The temp dir for files the server reads (data directories, templates, PgBouncer's config): the usual one
 * unless the server's OS user cannot reach it (TMPDIR under a private home), then /tmp.
 */
export async function serverTempDir(user: OsUser | undefined): Promise<string> {
  const preferred = tmpdir()
  return (await reachableBy(preferred, user)) ? preferred : '/tmp'
}
