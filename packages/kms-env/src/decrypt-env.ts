import type { KMSClient } from '@aws-sdk/client-kms'
import { createPrefetchClient } from '@middy/util'
import { Budget } from './budget.ts'
import { createDecrypt, settleAll } from './decrypt.ts'
import { traceDecrypt } from './events.ts'
import { decryptEnvOptionNames, resolveOptions } from './options.ts'
import { planKeys } from './plan.ts'
import type { DecryptEnvOptions, DecryptedValues } from './types.ts'

/**
 * The decryption of `kmsEnv` without Middy (scripts, other frameworks): decrypts every variable of
 * `fetchData` in parallel and resolves to `{ [key]: plaintext }`. No cache: call it once at module scope
 * and await the same promise where the values are needed. Each Decrypt gets `timeout` ms in all. Rejects with a KmsEnvError.
 */
export function decryptEnv<const TOptions extends DecryptEnvOptions = DecryptEnvOptions>(
  opts?: TOptions,
): Promise<DecryptedValues<TOptions>> {
  return decryptFrom(process.env, opts) as Promise<DecryptedValues<TOptions>>
}

/** `decryptEnv` reading another environment than process.env (the CLI's). */
export async function decryptFrom(
  env: NodeJS.ProcessEnv,
  opts?: DecryptEnvOptions,
): Promise<Record<string, unknown>> {
  const options = resolveOptions(opts, 'decryptEnv', decryptEnvOptionNames)
  const plans = planKeys(options, env)
  const decrypt = createDecrypt(options, env, options.connectWatch)
  // disablePrefetch makes @middy/util apply awsClientCapture: there is no invocation scope to wait for.
  const client = createPrefetchClient({ ...options, disablePrefetch: true } as unknown as Parameters<
    typeof createPrefetchClient
  >[0]) as KMSClient
  const values = await settleAll(
    plans,
    traceDecrypt(plans, () =>
      plans.map((plan) => {
        const budget = new Budget(options.timeout)
        return decrypt(client, plan, budget).finally(() => budget.done())
      }),
    ),
  )
  return Object.fromEntries(plans.map((plan, i) => [plan.key, values[i]]))
}
