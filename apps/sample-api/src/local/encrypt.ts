import { join } from 'node:path'
import { appDir } from './paths.ts'
import { runToExit } from './run-to-exit.ts'

export interface EncryptWithCliOptions {
  keyId: string
  functionName: string
  /** KMS endpoint URL (the local test endpoint); omitted for real KMS. */
  endpoint?: string
  env?: NodeJS.ProcessEnv
}

/**
 * Encrypts a value with the same `rdskit-kms encrypt` command a user runs against real KMS: spawned,
 * the value written to its stdin (never on the command line, where `ps` would show it), the base64
 * ciphertext read from its stdout.
 */
export const encryptWithCli = async (value: string, options: EncryptWithCliOptions): Promise<string> => {
  const args = ['encrypt', '--key-id', options.keyId, '--function-name', options.functionName]
  if (options.endpoint) args.push('--endpoint', options.endpoint)
  const { code, stdout, stderr } = await runToExit(join(appDir, 'node_modules', '.bin', 'rdskit-kms'), args, {
    env: options.env,
    input: value,
  })
  const ciphertext = stdout.trim()
  if (code === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(ciphertext)) return ciphertext
  throw new Error(`rdskit-kms encrypt exited with ${code}: ${stderr.trim() || 'no ciphertext printed'}`)
}
