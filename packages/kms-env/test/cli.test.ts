import { PassThrough } from 'node:stream'
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
    [
      ['encrypt', '--keyid', 'x'],
      /^rdskit-kms: unknown option '--keyid' for 'encrypt'\. Did you mean '--key-id'\?$/m,
    ],
    [['encrypt', '--key', 'x'], /unknown option '--key' for 'encrypt'\. Did you mean '--key-id'\?/],
    [['encrypt', '--function-nam=f'], /Did you mean '--function-name'\?/],
    [['encrypt', '--colour'], /^rdskit-kms: unknown option '--colour' for 'encrypt'\.$/m],
    [['encrypt', '-x'], /unknown option '-x' for 'encrypt'/],
    [['check', '--keep-newline', 'V'], /'--keep-newline' is an option of 'encrypt', not of 'check'/],
    [['encrpyt'], /unknown command 'encrpyt'\. Did you mean 'encrypt'\?/],
    [['encrypt', '--function-name', 'f', '--key-id'], /'--key-id' needs a value: --key-id K\./],
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

  it('quotes every name in a usage error in balanced pairs', async () => {
    for (const argv of [['encrypt', '--keyid', 'x'], ['check', '--keep-newline'], ['encrpyt'], ['decrypt']]) {
      const [line] = (await run(argv)).stderr.split('\n')
      expect(line?.match(/'/g)?.length ?? 0, line).toSatisfy((n: number) => n > 0 && n % 2 === 0)
    }
  })

  it("points 'decrypt' to 'check', which never prints a value", async () => {
    const result = await run(['decrypt'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/'check' decrypts variables and reports OK or FAILED, never the value/)
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

  /** A terminal-like stdin: a stream with isTTY and a setRawMode that records the terminal's mode. */
  const terminal = () => {
    const modes: boolean[] = []
    const stdin = Object.assign(new PassThrough(), {
      isTTY: true,
      setRawMode(raw: boolean) {
        modes.push(raw)
        return stdin
      },
    })
    return { stdin, modes }
  }

  const runAtTerminal = async (keys: string) => {
    const { stdin, modes } = terminal()
    let stdout = ''
    let stderr = ''
    let modeAtPrompt: boolean | undefined
    const code = runCli(encrypt, {
      stdin,
      stdout: (t) => {
        stdout += t
      },
      stderr: (t) => {
        if (t.startsWith('Type the value')) {
          modeAtPrompt = modes.at(-1)
          stdin.write(keys)
        }
        stderr += t
      },
      env: { AWS_REGION: 'us-east-1' },
    })
    return { code: await code, stdout, stderr, modes, modeAtPrompt }
  }

  it('at a terminal, reads one line in raw mode, echoes none of it, and restores the terminal', async () => {
    const result = await runAtTerminal('hunter\x7f2\r')
    expect(result.code).toBe(0)
    expect(result.modeAtPrompt).toBe(true)
    expect(result.modes.at(-1)).toBe(false)
    expect(plaintextSent()).toBe('hunte2')
    expect(result.stderr).not.toMatch(/hunte/)
    expect(result.stdout).toBe('AQID+g==\n')
  })

  it('at a terminal, Ctrl-C cancels with exit code 130 and encrypts nothing', async () => {
    const result = await runAtTerminal('hunter2\x03')
    expect(result.code).toBe(130)
    expect(result.stderr).toMatch(/cancelled; nothing was encrypted/)
    expect(result.stderr).not.toMatch(/hunter2/)
    expect(kms.commandCalls(EncryptCommand)).toHaveLength(0)
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
