import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { type KmsEndpoint, requireSystemBinary, startKms } from '@rdskit/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCliProcess } from './cli-process.ts'

const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const script = requireSystemBinary('script', 'apt-get install -y bsdutils')

let kms: KmsEndpoint
let home: string
beforeAll(async () => {
  kms = await startKms({ aliases: ['alias/orders'] })
  home = mkdtempSync(join(tmpdir(), 'rdskit-cli-home-'))
})
afterAll(async () => {
  await kms.stop()
  rmSync(home, { recursive: true, force: true })
})

/**
 * `rdskit-kms encrypt` on a real pseudo-terminal (util-linux `script`), typing `keys` once the prompt is
 * on screen. Resolves to everything the terminal showed, which includes whatever it echoed.
 */
const encryptAtTerminal = (scriptPath: string, keys: string) =>
  new Promise<{ code: number | null; screen: string }>((resolve, reject) => {
    const command = [process.execPath, cliPath, 'encrypt', '--key-id', 'alias/orders']
      .concat(['--function-name', 'orders-api', '--endpoint', kms.url])
      .map((arg) => `'${arg}'`)
      .join(' ')
    const child = spawn(scriptPath, ['-q', '-e', '-c', command, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: home, TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const timer = setTimeout(() => child.kill(), 20_000)
    let screen = ''
    child.stdout.on('data', (data: Buffer) => {
      const before = screen
      screen += data.toString()
      if (!before.includes('Type the value') && screen.includes('Type the value')) child.stdin.write(keys)
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, screen })
    })
  })

describe('rdskit-kms encrypt at a real terminal', () => {
  it.skipIf(!script)('shows nothing of the typed value, and encrypts exactly what was typed', async () => {
    const { code, screen } = await encryptAtTerminal(script as string, 'pässwörd-🔑\r')
    expect(screen).toContain('Type the value and press Enter (it is not shown')
    expect(screen).not.toContain('pässwörd')
    expect(code).toBe(0)
    const ciphertext = screen.split(/\r?\n/).find((line) => /^[A-Za-z0-9+/]{40,}={0,2}$/.test(line.trim()))
    const client = new KMSClient({ endpoint: kms.url, region: kms.region, credentials: kms.credentials })
    const decrypted = await client.send(
      new DecryptCommand({
        CiphertextBlob: Buffer.from(ciphertext?.trim() ?? '', 'base64'),
        EncryptionContext: { LambdaFunctionName: 'orders-api' },
      }),
    )
    client.destroy()
    expect(Buffer.from(decrypted.Plaintext ?? []).toString()).toBe('pässwörd-🔑')
  })
})

describe('rdskit-kms without a region', () => {
  it('names --region, AWS_REGION and the profile it looked in, before asking for the value (exit 2)', async () => {
    const result = await runCliProcess(
      ['encrypt', '--key-id', 'alias/orders', '--function-name', 'orders-api'],
      'hunter2\n',
      { HOME: home, AWS_PROFILE: 'staging', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' },
    )
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(
      `rdskit-kms: no AWS region: pass --region R, set AWS_REGION, or set region in the profile 'staging' (${join(home, '.aws', 'config')}; AWS_PROFILE picks the profile).`,
    )
    expect(result.stderr).not.toContain('hunter2')
  })

  it('is the same for check', async () => {
    const result = await runCliProcess(['check', '--function-name', 'orders-api', 'DB_PASSWORD'], '', {
      HOME: home,
      DB_PASSWORD: 'AQID',
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(
      /no AWS region: pass --region R, set AWS_REGION, or set region in the profile 'default'/,
    )
  })
})
