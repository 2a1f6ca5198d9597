import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { migrate, RdsError } from '../../src/index.ts'
import { closedPort } from '../helpers.ts'

const migrationsFolder = mkdtempSync(join(tmpdir(), 'rdskit-migrate-logger-'))
afterAll(() => rmSync(migrationsFolder, { recursive: true, force: true }))

const config = async () => ({
  host: '127.0.0.1',
  port: await closedPort(),
  database: 'app',
  username: 'deploy',
  password: 'hunter2-secret',
  connect_timeout: 2,
})

afterEach(() => vi.restoreAllMocks())

describe('migrate({ logger })', () => {
  it.each([['require' as const], [false as const]])(
    'routes the tls: %j warning to the given logger, not to console, and never the password',
    async (tls) => {
      const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => {})
      const warnings: string[] = []
      const error = await migrate({
        config: await config(),
        tls,
        migrationsFolder,
        logger: { warn: (message) => warnings.push(message) },
      }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(Error)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/tls|TLS/)
      expect(warnings.join('\n')).not.toContain('hunter2-secret')
      expect(consoleWarn).not.toHaveBeenCalled()
    },
  )

  it('rejects a logger without warn() with INVALID_OPTION naming `logger`, before connecting', async () => {
    const error = await migrate({
      config: await config(),
      migrationsFolder,
      logger: { info() {} } as never,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: 'INVALID_OPTION' })
    expect((error as RdsError).message).toMatch(/migrate\(\): option `logger`/)
    expect((error as RdsError).hint).toMatch(/warn/)
  })
})
