import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

const extraDirs = ['/usr/sbin', '/usr/bin', '/usr/local/bin']

/** The path of a system binary on PATH (or the usual sbin/bin dirs), or undefined. No output, no throw. */
export function findSystemBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]
  for (const dir of dirs) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/**
 * Finds a system binary a test needs (pgbouncer, chromium). Resolves to its path, or to `undefined`
 * with a printed reason so the caller can skip; under CI (CI=true) a missing binary throws instead,
 * because CI installs it and a skip there would hide a gap.
 */
export function requireSystemBinary(name: string, hint = `apt-get install -y ${name}`): string | undefined {
  const found = findSystemBinary(name)
  if (found) return found
  const reason = `${name} is not installed (${hint})`
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`${reason}: CI installs it, so this test may not skip here`)
  }
  console.warn(`skipping: ${reason}`)
  return undefined
}
