import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { ConfigError, configFromEnv } from '../src/config.ts'

const ciphertext = 'AQICAHjSECRETCIPHERTEXTxyz=='
const base = { DB_HOST: 'db.internal', DB_PASSWORD: ciphertext }
const dir = await mkdtemp(join(tmpdir(), 'sample-api-config-'))
afterAll(() => rm(dir, { recursive: true, force: true }))

const failure = (env: NodeJS.ProcessEnv): ConfigError => {
  try {
    configFromEnv(env)
  } catch (error) {
    return error as ConfigError
  }
  throw new Error('configFromEnv accepted a bad environment')
}

describe('configFromEnv', () => {
  test('defaults to verify-full TLS with no CA of its own, port 5432 and the app database', () => {
    expect(configFromEnv(base).db).toEqual({
      host: 'db.internal',
      port: 5432,
      database: 'app',
      username: 'app',
      tls: 'verify-full',
    })
  })

  test('reads an optional reader endpoint from DB_READER_HOST', () => {
    expect(configFromEnv({ ...base, DB_READER_HOST: 'db.cluster-ro.internal' }).db.readerHost).toBe(
      'db.cluster-ro.internal',
    )
    expect(configFromEnv({ ...base, DB_READER_HOST: '' }).db).not.toHaveProperty('readerHost')
  })

  test('reads the CA that DB_CA_FILE points at for verify-full', async () => {
    const file = join(dir, 'ca.pem')
    await writeFile(file, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    expect(configFromEnv({ ...base, DB_CA_FILE: file }).db.ca).toContain('BEGIN CERTIFICATE')
  })

  test.each([
    [{ DB_PASSWORD: ciphertext }, 'DB_HOST'],
    [{ DB_HOST: 'db.internal' }, 'DB_PASSWORD'],
    [{ ...base, DB_TLS: 'require' }, 'DB_TLS'],
    [{ ...base, DB_PORT: '70000' }, 'DB_PORT'],
    [{ ...base, DB_CA_FILE: join(dir, 'missing.pem') }, 'DB_CA_FILE'],
  ] as [NodeJS.ProcessEnv, string][])(
    'a bad environment names the variable %# (%s) and never echoes the ciphertext',
    (env, variable) => {
      const error = failure(env)
      expect(error).toBeInstanceOf(ConfigError)
      expect(error.code).toBe('INVALID_CONFIG')
      expect(error.message.startsWith(variable)).toBe(true)
      expect(error.message).not.toContain(ciphertext)
    },
  )
})
