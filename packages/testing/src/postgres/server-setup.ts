import { type MajorVersion, type ServerBinaries, serverBinaries } from './binaries.ts'
import { clusterBaseDir, clusterTemplate, type Template } from './data-dir.ts'
import { type OsUser, serverOsUser } from './os-user.ts'

export const versions: readonly MajorVersion[] = [15, 16, 17]

export interface ServerSetup {
  version: MajorVersion
  /** Binaries the server's OS user can execute (a copy when node_modules is out of its reach). */
  binaries: ServerBinaries
  /** The OS user the server runs as (root runs it as `postgres`); undefined: the current user. */
  user: OsUser | undefined
  /** Where cluster directories go: RAM when there is room, else a temp dir the server can reach. */
  baseDir: string
  template: Template
}

/** What every local server needs before its data directory is made; validates `version`. */
export async function serverSetup(version: MajorVersion = 17): Promise<ServerSetup> {
  if (!versions.includes(version)) {
    throw new TypeError(`version must be one of ${versions.join(', ')}; got ${JSON.stringify(version)}`)
  }
  const user = await serverOsUser()
  const [binaries, baseDir] = await Promise.all([serverBinaries(version), clusterBaseDir(user)])
  const template = await clusterTemplate(binaries, version, user)
  return { version, binaries, user, baseDir, template }
}
