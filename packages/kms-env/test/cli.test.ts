import { EncryptCommand, type EncryptCommandInput, KMSClient } from '@aws-sdk/client-kms'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import pkg from '../package.json' with { type: 'json' }
import { runCli } from '../src/cli-run.ts'
import { cliSpec } from '../src/cli-spec.ts'

const kms = mockClient(KMSClient)
beforeEach(() => {
  kms.reset()
  kms.on(EncryptCommand).resolves({ CiphertextBlob: new Uint8Array([1, 2, 3, 250]) })
})
afterEach(() => kms.reset())

async function run(argv: string[], stdin: string | Buffer = '', env: NodeJS.ProcessEnv = {}, isTTY = false) {
  let stdout = ''
  let stderr = ''
  const input = Object.assign(
    (async function* () {
      if (stdin.length) yield typeof stdin === 'string' ? Buffer.from(stdin) : stdin
    })(),
    { isTTY },
  )
  const code = await runCli(argv, {
    stdin: input,
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
    env: { AWS_REGION: 'us-east-1', ...env },
  })
  return { code, stdout, stderr }
}

const encryptInput = () => kms.commandCalls(EncryptCommand)[0]?.args[0].input as EncryptCommandInput
const plaintextSent = () => Buffer.from(encryptInput().Plaintext as Uint8Array).toString()
const encrypt = ['encrypt', '--key-id', 'alias/orders', '--function-name', 'orders-api']

describe('rdskit-kms help and usage', () => {
  it('prints the usage with every command when run without arguments (exit 2) or with --help (exit 0)', async () => {
    const bare = await run([])
    expect(bare.code).toBe(2)
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    for (const [name, command] of Object.entries(cliSpec.commands)) {
      expect(help.stdout).toContain(`  ${name}`)
      expect(help.stdout).toContain(command.usage)
    }
  })

  it('prints every flag of a command from the spec with <command> --help', async () => {
    for (const [name, command] of Object.entries(cliSpec.commands)) {
      const help = await run([name, '--help'])
      expect(help.code).toBe(0)
      for (const flag of Object.keys(command.flags)) expect(help.stdout).toContain(`--${flag}`)
    }
  })

  it('prints the package version', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' })
  })

  it.each([
    [['decrypt'], /unknown command 'decrypt'/],
    [['encrypt', '--key', 'x'], /Unknown option '--key'/],
    [['encrypt', '--function-name', 'f'], /--key-id K is required/],
    [['encrypt', '--key-id', 'k'], /--function-name F is required/],
    [['encrypt', '--key-id', 'k', '--function-name', 'f', '--no-context'], /exclude each other/],
    [['encrypt', '--key-id', 'k', '--function-name', 'f', 'hunter2'], /pipe the value to stdin/],
    [['check', '--function-name', 'f'], /name at least one environment variable/],
    [['check', 'DB_PASSWORD'], /--function-name F is required/],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const result = await run(argv, 'value')
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).toMatch(/Run 'rdskit-kms --help'/)
    expect(kms.commandCalls(EncryptCommand)).toHaveLength(0)
  })

  it('never echoes a value passed as an argument', async () => {
    const result = await run([...encrypt, 'hunter2'])
    expect(result.stderr).not.toContain('hunter2')
  })
})

describe('rdskit-kms encrypt', () => {
  it('encrypts stdin with the key and the { LambdaFunctionName } context and prints base64', async () => {
    const result = await run(encrypt, 'hunter2')
    expect(result).toEqual({ code: 0, stdout: 'AQID+g==\n', stderr: '' })
    expect(encryptInput()).toMatchObject({
      KeyId: 'alias/orders',
      EncryptionContext: { LambdaFunctionName: 'orders-api' },
    })
    expect(plaintextSent()).toBe('hunter2')
  })

  it('drops one trailing newline (echo adds it), CRLF too, and keeps it with --keep-newline', async () => {
    await run(encrypt, 'hunter2\n')
    expect(plaintextSent()).toBe('hunter2')
    kms.resetHistory()
    await run(encrypt, 'hunter2\r\n')
    expect(plaintextSent()).toBe('hunter2')
    kms.resetHistory()
    await run(encrypt, 'two lines\n\n')
    expect(plaintextSent()).toBe('two lines\n')
    kms.resetHistory()
    await run([...encrypt, '--keep-newline'], 'hunter2\n')
    expect(plaintextSent()).toBe('hunter2\n')
  })

  it('sends UTF-8 text byte for byte', async () => {
    await run(encrypt, 'パスワード🔑')
    expect(plaintextSent()).toBe('パスワード🔑')
  })

  it('encrypts with no context with --no-context', async () => {
    await run(['encrypt', '--key-id', 'k', '--no-context'], 'v')
    expect(encryptInput()).not.toHaveProperty('EncryptionContext')
  })

  it('refuses an empty value (exit 2), a value over 4096 bytes (TOO_LARGE) and binary input (NOT_UTF8)', async () => {
    expect((await run(encrypt, '\n')).stderr).toMatch(/no value on stdin/)
    const large = await run(encrypt, 'a'.repeat(4097))
    expect(large.code).toBe(1)
    expect(large.stderr).toMatch(/4097 bytes; KMS encrypts at most 4096/)
    const binary = await run(encrypt, Buffer.from([0xff, 0xfe, 0x41]))
    expect(binary.code).toBe(1)
    expect(binary.stderr).toMatch(/not valid UTF-8/)
    expect(kms.commandCalls(EncryptCommand)).toHaveLength(0)
    expect((await run(encrypt, 'a'.repeat(4096))).code).toBe(0)
  })

  it('prompts on stderr, never stdout, when stdin is a terminal', async () => {
    const result = await run(encrypt, 'v', {}, true)
    expect(result.stderr).toMatch(/Type the value, then press Ctrl-D/)
    expect(result.stdout).toBe('AQID+g==\n')
  })

  it('explains a KMS failure with the hint, exit 1', async () => {
    kms.on(EncryptCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }))
    const result = await run(encrypt, 'hunter2')
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      /Encrypt with key alias\/orders failed: AccessDeniedException\. Hint: .*kms:Encrypt/,
    )
    expect(result.stderr).not.toContain('hunter2')
  })
})
