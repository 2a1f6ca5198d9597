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

  test('reads the CA that DB_CA_FILE points at for verify-full', async () => {
    const file = join(dir, 'ca.pem')
    await writeFile(file, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    expect(configFromEnv({ ...base, DB_CA_FILE: file }).db.ca).toContain('BEGIN CERTIFICATE')
  })

  test('reads an optional reader endpoint from DB_READER_HOST, on DB_PORT unless DB_READER_PORT says otherwise', () => {
    expect(configFromEnv(base).db.reader).toBeUndefined()
    const ro = 'my-cluster.cluster-ro-abc123.eu-west-1.rds.amazonaws.com'
    expect(configFromEnv({ ...base, DB_PORT: '6432', DB_READER_HOST: ro }).db.reader).toEqual({
      host: ro,
      port: 6432,
    })
    expect(configFromEnv({ ...base, DB_READER_HOST: '10.0.3.7', DB_READER_PORT: '5433' }).db.reader).toEqual({
      host: '10.0.3.7',
      port: 5433,
    })
  })

  test.each([
    ['db.internal:5432', 'put a port in DB_READER_PORT'],
    ['postgres://db.internal', 'put a port in DB_READER_PORT'],
    ['db internal', 'reader endpoint host name'],
    ['-db.internal', 'reader endpoint host name'],
  ])('DB_READER_HOST %j is refused with a hint', (value, hint) => {
    const error = failure({ ...base, DB_READER_HOST: value })
    expect(error.message).toMatch(/^DB_READER_HOST is /)
    expect(error.message).toContain(hint)
  })

  test.each([
    [{ DB_PASSWORD: ciphertext }, 'DB_HOST'],
    [{ ...base, DB_READER_HOST: 'ro.internal', DB_READER_PORT: '0' }, 'DB_READER_PORT'],
    [{ ...base, DB_READER_PORT: '5433' }, 'DB_READER_PORT'],
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
