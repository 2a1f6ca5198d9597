import { DecryptCommand, type DecryptCommandOutput, type KMSClient } from '@aws-sdk/client-kms'
import { catchInvalidSignatureException } from '@middy/util'
import { type Budget, whenAborted } from './budget.ts'
import type { ConnectWatch, Stall } from './connect-watch.ts'
import { KmsEnvError } from './errors.ts'
import { decryptFailed, errorName } from './hints.ts'
import type { Options } from './options.ts'
import type { KeyPlan } from './plan.ts'

/** KMS's limit on a CiphertextBlob. */
export const maxCiphertextBytes = 6144
const base64 = /^[A-Za-z0-9+/]+={0,2}$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Decrypts one planned variable within `budget` (every attempt and the backoff between them). */
export type Decrypt = (client: KMSClient, plan: KeyPlan, budget: Budget) => Promise<unknown>

function readCiphertext(plan: KeyPlan, text: string | undefined): Uint8Array {
  const where = `${plan.variable} (fetchData.${plan.key})`
  const details = { variable: plan.variable, key: plan.key }
  const value = text?.trim()
  if (!value) {
    throw new KmsEnvError('MISSING_VARIABLE', `Environment variable ${where} is not set or is empty.`, {
      ...details,
      hint: `set it to the base64 ciphertext printed by rdskit-kms encrypt (or the Lambda console's encryption helpers).`,
    })
  }
  if (value.length % 4 !== 0 || !base64.test(value)) {
    throw new KmsEnvError('NOT_BASE64', `Environment variable ${where} does not hold base64 text.`, {
      ...details,
      hint: 'it must hold the base64 CiphertextBlob, not the plaintext: encrypt the value (rdskit-kms encrypt) and store its output.',
    })
  }
  const blob = Buffer.from(value, 'base64')
  if (blob.length > maxCiphertextBytes) {
    throw new KmsEnvError(
      'TOO_LARGE',
      `Environment variable ${where} holds ${blob.length} bytes; a KMS ciphertext has at most ${maxCiphertextBytes}.`,
      {
        ...details,
        hint: 'it is not a single KMS ciphertext; store a KMS ciphertext of at most 4096 bytes of plaintext.',
      },
    )
  }
  return blob
}

function decode(plan: KeyPlan, bytes: Uint8Array | undefined): string {
  try {
    return utf8.decode(bytes ?? new Uint8Array())
  } catch {
    throw new KmsEnvError(
      'NOT_UTF8',
      `The plaintext of ${plan.variable} (fetchData.${plan.key}) is not valid UTF-8.`,
      {
        variable: plan.variable,
        key: plan.key,
        hint: 'encrypt text (rdskit-kms encrypt reads UTF-8 from stdin); binary values are not supported.',
      },
    )
  }
}

function parse(plan: KeyPlan, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    // JSON.parse's own message quotes part of the input: it must not become the message or the cause.
    throw new KmsEnvError(
      'JSON_INVALID',
      `The plaintext of ${plan.variable} (fetchData.${plan.key}) is not valid JSON.`,
      {
        variable: plan.variable,
        key: plan.key,
        hint: `remove '${plan.key}' from the json option, or encrypt valid JSON.`,
      },
    )
  }
}

async function regionOf(client: KMSClient): Promise<string | undefined> {
  try {
    const region = client.config?.region
    return typeof region === 'function' ? await region() : (region ?? process.env.AWS_REGION)
  } catch {
    return process.env.AWS_REGION
  }
}

/** Where a timed-out Decrypt was stuck: the socket's own connect error says it, else the watch. */
function stallOf(
  error: unknown,
  budget: Budget,
  watch: ConnectWatch | undefined,
): Stall | 'no-time' | undefined {
  if (budget.ms <= 0) return 'no-time'
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown }
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH' || syscall === 'connect') return 'connect'
  return watch?.stallSince(budget.startedAt)
}

/** Sends the Decrypt with the budget's signal (the SDK stops retrying) and stops waiting at its deadline. */
function send(client: KMSClient, command: DecryptCommand, budget: Budget): Promise<DecryptCommandOutput> {
  if (budget.expired) return Promise.reject(budget.signal.reason)
  const sent = client
    .send(command, { abortSignal: budget.signal })
    .catch((e: Error) => catchInvalidSignatureException(e, client, command) as Promise<DecryptCommandOutput>)
  return Promise.race([sent, whenAborted(budget.signal)])
}

/** Decrypts one variable: MISSING_VARIABLE / NOT_BASE64 / TOO_LARGE / DECRYPT_FAILED / NOT_UTF8 / JSON_INVALID. */
async function decryptPlaintext(
  client: KMSClient,
  plan: KeyPlan,
  text: string | undefined,
  budget: Budget,
  watch: ConnectWatch | undefined,
): Promise<string> {
  const command = new DecryptCommand({
    CiphertextBlob: readCiphertext(plan, text),
    ...(plan.context ? { EncryptionContext: plan.context } : {}),
    ...(plan.keyId ? { KeyId: plan.keyId } : {}),
  })
  let output: DecryptCommandOutput
  try {
    output = await send(client, command, budget)
  } catch (error) {
    // At the deadline the SDK reports an AbortError (or nothing yet): the budget's own TimeoutError says why.
    const cause = budget.expired ? budget.signal.reason : error
    const stall = errorName(cause) === 'TimeoutError' ? stallOf(cause, budget, watch) : undefined
    throw decryptFailed(cause, { plan, region: await regionOf(client), stall, budgetMs: budget.ms })
  }
  return decode(plan, output.Plaintext)
}

/**
 * The decrypt function for a set of options. With `setToEnv`, the ciphertext read first is remembered,
 * because the variable then holds the plaintext and a refresh must still decrypt the original.
 */
export function createDecrypt(
  options: Pick<Options, 'setToEnv'>,
  env: NodeJS.ProcessEnv = process.env,
  watch?: ConnectWatch,
): Decrypt {
  const ciphertexts = new Map<string, string | undefined>()
  return async (client, plan, budget) => {
    if (plan.problem) throw plan.problem
    let text = env[plan.variable]
    if (options.setToEnv) {
      if (ciphertexts.has(plan.variable)) text = ciphertexts.get(plan.variable)
      else ciphertexts.set(plan.variable, text)
    }
    const plaintext = await decryptPlaintext(client, plan, text, budget, watch)
    const value = plan.json ? parse(plan, plaintext) : plaintext
    if (options.setToEnv) env[plan.variable] = plaintext
    return value
  }
}

/** Settles every promise and throws the first KmsEnvError (naming the others), or returns the values. */
export async function settleAll(
  plans: readonly KeyPlan[],
  promises: ReadonlyArray<Promise<unknown>>,
): Promise<unknown[]> {
  const results = await Promise.allSettled(promises)
  const failed: Array<{ plan: KeyPlan; reason: unknown }> = []
  results.forEach((r, i) => {
    if (r.status === 'rejected') failed.push({ plan: plans[i] as KeyPlan, reason: r.reason })
  })
  if (failed.length > 0) throw combine(failed)
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value)
}

function combine(failed: Array<{ plan: KeyPlan; reason: unknown }>): KmsEnvError {
  const errors = failed.map(({ plan, reason }) =>
    reason instanceof KmsEnvError ? reason : decryptFailed(reason, { plan, region: process.env.AWS_REGION }),
  )
  const [first, ...others] = errors as [KmsEnvError, ...KmsEnvError[]]
  if (others.length === 0) return first
  return first.withOthers(others)
}
