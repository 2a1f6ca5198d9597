import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { appDir } from '../src/local/paths.ts'
import { runToExit } from '../src/local/run-to-exit.ts'

/** Runs scripts/local.ts (what `pnpm start` runs) with `env` until it exits by itself. */
const runLocal = (env: Record<string, string>) =>
  runToExit(process.execPath, [join(appDir, 'scripts', 'local.ts')], {
    cwd: appDir,
    env: { ...process.env, DATABASE_URL: '', KMS_KEY_ID: '', ...env },
  })

describe('the local server and its PORT', () => {
  let busy: Server
  let busyPort = 0

  beforeAll(async () => {
    busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    busyPort = (busy.address() as { port: number }).port
  })
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())))

  test('refuses a busy port with one line naming the port and PORT, before starting PostgreSQL', async () => {
    const run = await runLocal({ PORT: String(busyPort) })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(`port ${busyPort} on 127.0.0.1 is already in use`)
    expect(run.stderr).toContain(`PORT=${busyPort + 1}`)
    expect(run.stderr).not.toMatch(/^\s+at /m)
    expect(run.stderr).not.toContain('PostgreSQL')
    expect(run.stdout).toBe('')
  })

  test.each(['abc', '70000'])('refuses PORT=%s with the rule it breaks', async (value) => {
    const run = await runLocal({ PORT: value })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(
      `PORT must be a port number from 0 to 65535 (0 picks a free one); got "${value}"`,
    )
    expect(run.stderr).not.toMatch(/^\s+at /m)
  })
})
