import diagnostics from 'node:diagnostics_channel'
import { KmsEnvError } from './errors.ts'
import type { KeyPlan } from './plan.ts'

/**
 * `rdskit:kms-env:decrypt`: a TracingChannel (`tracing:rdskit:kms-env:decrypt:start`, `:end`, `:asyncStart`,
 * `:asyncEnd`, `:error`) around each batch of KMS Decrypt calls. Versioned like @rdskit/rds's events; the
 * payload names variables, keys and key ids, never a ciphertext or a plaintext.
 */
export const decryptChannelName = 'rdskit:kms-env:decrypt'

export interface DecryptEvent {
  readonly version: 1
  /** fetchData keys (request.internal keys). */
  keys: string[]
  /** Environment variables holding the ciphertexts. */
  variables: string[]
  /** The key ids Decrypt was pinned to (empty when none was). */
  keyIds: string[]
  count: number
  /** Set when the batch settles. */
  durationMs?: number
  /** Set on the `error` stage: the KmsEnvError's class, code, KMS error name and message (secret-free). */
  error?: { name: string; code?: string; kmsError?: string; message?: string }
}

const channel = diagnostics.tracingChannel(decryptChannelName)
const now = () => performance.now()

function summary(error: unknown): NonNullable<DecryptEvent['error']> {
  if (error instanceof KmsEnvError) {
    return {
      name: error.name,
      code: error.code,
      ...(error.kmsError ? { kmsError: error.kmsError } : {}),
      message: error.message,
    }
  }
  const name = (error as { name?: unknown } | undefined)?.name
  return { name: typeof name === 'string' ? name : 'Error' }
}

/**
 * Runs `decryptAll` (which starts one Decrypt per plan and returns their promises) inside the traced
 * stages. Unobserved, it only calls `decryptAll`. The promises are returned untouched: the payload never
 * sees the values they resolve to.
 */
export function traceDecrypt<T>(
  plans: readonly KeyPlan[],
  decryptAll: () => Array<Promise<T>>,
): Array<Promise<T>> {
  if (!channel.hasSubscribers || plans.length === 0) return decryptAll()
  const event: DecryptEvent = {
    version: 1,
    keys: plans.map((plan) => plan.key),
    variables: plans.map((plan) => plan.variable),
    keyIds: [...new Set(plans.flatMap((plan) => (plan.keyId ? [plan.keyId] : [])))],
    count: plans.length,
  }
  const started = now()
  channel.start.publish(event)
  let attempts: Array<Promise<T>>
  try {
    attempts = decryptAll()
  } finally {
    channel.end.publish(event)
  }
  void Promise.allSettled(attempts).then((results) => {
    event.durationMs = now() - started
    const failed = results.find((result) => result.status === 'rejected')
    if (failed) {
      event.error = summary(failed.reason)
      channel.error.publish(event)
    }
    channel.asyncStart.publish(event)
    channel.asyncEnd.publish(event)
  })
  return attempts
}
