import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { type Flags, parse, UsageError, unknownCommand } from './cli-args.ts'
import { Cancelled, type CliStdin, readValue } from './cli-input.ts'
import { type CliCommand, cliSpec } from './cli-spec.ts'
import { decryptFrom } from './decrypt-env.ts'
import { defaults } from './defaults.ts'
import { KmsEnvError } from './errors.ts'
import { errorName, hintFor, sanitizeCause } from './hints.ts'

export interface CliIo {
  /** A terminal (isTTY and a stream) gets a hidden one-line prompt; anything else is read to its end. */
  stdin: CliStdin
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: NodeJS.ProcessEnv
}

const maxPlaintext = 4096
const loopback = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/

function helpText(command?: CliCommand): string {
  const flagLines = (flags: Record<string, { value?: string; short?: string; description: string }>) =>
    Object.entries(flags).map(([name, f]) => {
      const left = `${'short' in f && f.short ? `-${f.short}, ` : ''}--${name}${f.value ? ` ${f.value}` : ''}`
      return `  ${left.padEnd(24)} ${f.description}`
    })
  if (command) {
    const spec = cliSpec.commands[command]
    return [
      `Usage: ${spec.usage}`,
      '',
      spec.summary,
      '',
      ...(spec.positionals ? [`  ${spec.positionals.value.padEnd(24)} ${spec.positionals.description}`] : []),
      ...flagLines(spec.flags),
      '',
    ].join('\n')
  }
  return [
    `Usage: ${cliSpec.name} <command> [flags]`,
    '',
    cliSpec.summary,
    '',
    'Commands:',
    ...Object.entries(cliSpec.commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
    '',
    ...flagLines(cliSpec.globalFlags),
    '',
    ...Object.values(cliSpec.commands).map((c) => `  ${c.usage}`),
    '',
  ].join('\n')
}

/**
 * The region, from --region, AWS_REGION, or the profile (as the SDK reads it). When none is set, the
 * message names every place it could come from, and the profile and file that were looked at.
 */
async function resolveRegion(config: KMSClientConfig, env: NodeJS.ProcessEnv): Promise<string> {
  if (typeof config.region === 'string') return config.region
  if (env.AWS_REGION) return env.AWS_REGION
  const probe = new KMSClient({})
  try {
    return await probe.config.region()
  } catch {
    const profile = env.AWS_PROFILE ?? 'default'
    const file = env.AWS_CONFIG_FILE ?? join(homedir(), '.aws', 'config')
    throw new UsageError(
      `no AWS region: pass --region R, set AWS_REGION, or set region in the profile '${profile}' (${file}; AWS_PROFILE picks the profile).`,
    )
  } finally {
    probe.destroy()
  }
}

/** Region, endpoint and local credentials; `check` leaves the request handler to decryptEnv's defaults. */
async function clientConfig(flags: Flags, env: NodeJS.ProcessEnv): Promise<KMSClientConfig> {
  const config: KMSClientConfig = {}
  if (typeof flags.region === 'string') config.region = flags.region
  const endpoint = typeof flags.endpoint === 'string' ? flags.endpoint : env.AWS_ENDPOINT_URL_KMS
  if (typeof flags.endpoint === 'string') config.endpoint = flags.endpoint
  // The local test endpoint checks no signature; spare local development a fake profile.
  if (endpoint && loopback.test(endpoint) && !env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE) {
    config.credentials = {
      accessKeyId: 'AKIARDSKITLOCALDEV00',
      secretAccessKey: 'rdskit-local-dev-not-a-secret',
    }
    config.region ??= env.AWS_REGION ?? 'us-east-1'
  }
  config.region = await resolveRegion(config, env)
  return config
}

function contextFlag(
  flags: Flags,
  env: NodeJS.ProcessEnv,
  command: CliCommand,
): Record<string, string> | false {
  if (flags['no-context']) {
    if (flags['function-name']) throw new UsageError('--no-context and --function-name exclude each other.')
    return false
  }
  const fn =
    typeof flags['function-name'] === 'string'
      ? flags['function-name']
      : command === 'check'
        ? env.AWS_LAMBDA_FUNCTION_NAME
        : undefined
  if (!fn)
    throw new UsageError('--function-name F is required (the encryption context), unless --no-context.')
  return { LambdaFunctionName: fn }
}

function encryptHint(name: string, region: string | undefined): string {
  if (name === 'AccessDeniedException')
    return 'your credentials need kms:Encrypt on the key (key policy and IAM).'
  return hintFor(name, { region })
}

async function encrypt(flags: Flags, positionals: string[], io: CliIo): Promise<number> {
  if (positionals.length > 0) {
    throw new UsageError(
      'encrypt takes no value argument: pipe the value to stdin (arguments land in shell history).',
    )
  }
  const keyId = flags['key-id']
  if (typeof keyId !== 'string' || !keyId) throw new UsageError('--key-id K is required.')
  const context = contextFlag(flags, io.env, 'encrypt')
  // Before the value is asked for: a missing region should not cost anyone a typed secret.
  const config = await clientConfig(flags, io.env)
  let value = await readValue(io.stdin, io.stderr)
  if (!flags['keep-newline']) {
    if (value.subarray(-2).toString() === '\r\n') value = value.subarray(0, -2)
    else if (value.subarray(-1).toString() === '\n') value = value.subarray(0, -1)
  }
  if (value.length === 0) throw new UsageError('no value on stdin.')
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(value)
  } catch {
    throw new KmsEnvError('NOT_UTF8', 'The value on stdin is not valid UTF-8 text.', {
      hint: 'kmsEnv decodes plaintexts as UTF-8; encrypt text.',
    })
  }
  if (value.length > maxPlaintext) {
    throw new KmsEnvError(
      'TOO_LARGE',
      `The value is ${value.length} bytes; KMS encrypts at most ${maxPlaintext}.`,
      {
        hint: 'Lambda allows 4 KB of environment variables in total: keep large secrets in Secrets Manager.',
      },
    )
  }
  const client = new KMSClient({
    ...config,
    requestHandler: {
      connectionTimeout: defaults.requestTimeout,
      requestTimeout: defaults.requestTimeout,
      throwOnRequestTimeout: true,
    },
  })
  try {
    const out = await client.send(
      new EncryptCommand({
        KeyId: keyId,
        Plaintext: value,
        ...(context ? { EncryptionContext: context } : {}),
      }),
    )
    io.stdout(`${Buffer.from(out.CiphertextBlob ?? new Uint8Array()).toString('base64')}\n`)
    return 0
  } catch (error) {
    const name = errorName(error)
    throw new KmsEnvError('CONFIG_INVALID', `Encrypt with key ${keyId} failed: ${name}.`, {
      kmsError: name,
      hint: encryptHint(name, config.region as string),
      cause: sanitizeCause(error),
    })
  } finally {
    client.destroy()
  }
}

async function check(flags: Flags, variables: string[], io: CliIo): Promise<number> {
  if (variables.length === 0) throw new UsageError('name at least one environment variable to check.')
  const encryptionContext = contextFlag(flags, io.env, 'check')
  const keyId = typeof flags['key-id'] === 'string' ? flags['key-id'] : undefined
  const failures = new Map<string, KmsEnvError>()
  const unique = [...new Set(variables)]
  try {
    await decryptFrom(io.env, {
      fetchData: Object.fromEntries(unique.map((v) => [v, v])),
      encryptionContext,
      ...(keyId ? { keyId } : {}),
      awsClientOptions: await clientConfig(flags, io.env),
    })
  } catch (error) {
    if (!(error instanceof KmsEnvError)) throw error
    if (error.code === 'CONFIG_INVALID') throw new UsageError(error.message)
    for (const e of [error, ...error.others]) failures.set(e.variable ?? '', e)
  }
  for (const variable of unique) {
    const failure = failures.get(variable)
    if (!failure) io.stdout(`${variable}: OK\n`)
    else
      io.stdout(
        `${variable}: FAILED ${failure.code}${failure.kmsError ? ` ${failure.kmsError}` : ''}. Hint: ${failure.hint ?? ''}\n`,
      )
  }
  return failures.size > 0 ? 1 : 0
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

/** Runs `rdskit-kms` with these arguments; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv
  try {
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      io.stdout(helpText())
      return first === undefined ? 2 : 0
    }
    if (first === '--version' || first === '-v') {
      io.stdout(`${version()}\n`)
      return 0
    }
    if (!Object.hasOwn(cliSpec.commands, first)) throw unknownCommand(first)
    const command = first as CliCommand
    const { flags, positionals } = parse(command, rest)
    if (flags.help) {
      io.stdout(helpText(command))
      return 0
    }
    return command === 'encrypt' ? await encrypt(flags, positionals, io) : await check(flags, positionals, io)
  } catch (error) {
    if (error instanceof Cancelled) {
      io.stderr(`${cliSpec.name}: ${error.message}\n`)
      return 130
    }
    if (error instanceof UsageError) {
      io.stderr(`${cliSpec.name}: ${error.message}\nRun '${cliSpec.name} --help' for usage.\n`)
      return 2
    }
    io.stderr(`${cliSpec.name}: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}
