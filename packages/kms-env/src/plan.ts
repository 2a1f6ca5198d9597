import { configError } from './errors.ts'
import { contextCheck, envVarName, type Options } from './options.ts'
import type { EncryptionContext } from './types.ts'

/** One fetchData entry, resolved: everything needed to decrypt it. */
export interface KeyPlan {
  /** fetchData key: the request.internal / context key. */
  key: string
  /** Environment variable holding the ciphertext. */
  variable: string
  /** undefined: Decrypt without a context. */
  context: EncryptionContext | undefined
  keyId: string | undefined
  json: boolean
}

const specKeys = new Set(['variable', 'encryptionContext', 'keyId', 'json'])

function defaultContext(key: string, env: NodeJS.ProcessEnv): EncryptionContext {
  const fn = env.AWS_LAMBDA_FUNCTION_NAME
  if (!fn) {
    throw configError(
      `fetchData.${key}: encryptionContext defaults to { LambdaFunctionName: AWS_LAMBDA_FUNCTION_NAME }, but AWS_LAMBDA_FUNCTION_NAME is not set (running outside Lambda?).`,
      "pass encryptionContext: { LambdaFunctionName: '<function name>' }, or encryptionContext: false for ciphertexts made without a context.",
    )
  }
  return { LambdaFunctionName: fn }
}

function resolveContext(
  key: string,
  value: EncryptionContext | false | undefined,
  env: NodeJS.ProcessEnv,
): EncryptionContext | undefined {
  if (value === false) return undefined
  const context = value ?? defaultContext(key, env)
  // KMS treats an empty context as none; so do we, so the Decrypt request is the same.
  return Object.keys(context).length === 0 ? undefined : { ...context }
}

/** Validates `fetchData` and resolves each entry against the top-level options. */
export function planKeys(options: Options, env: NodeJS.ProcessEnv = process.env): KeyPlan[] {
  const keys = Object.keys(options.fetchData)
  const jsonKeys = Array.isArray(options.json) ? options.json : []
  for (const name of jsonKeys) {
    if (!keys.includes(name))
      throw configError(`option 'json' lists '${name}', which is not a fetchData key.`)
  }
  return keys.map((key): KeyPlan => {
    const raw: unknown = options.fetchData[key]
    const spec = typeof raw === 'string' ? { variable: raw } : raw
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
      throw configError(
        `fetchData.${key} must be an environment variable name or { variable, encryptionContext?, keyId?, json? }.`,
      )
    }
    const s = spec as Record<string, unknown>
    const unknown = Object.keys(s).find((k) => !specKeys.has(k))
    if (unknown)
      throw configError(`fetchData.${key}: unknown field '${unknown}' (known: ${[...specKeys].join(', ')}).`)
    if (typeof s.variable !== 'string' || !envVarName.test(s.variable)) {
      // The value is not echoed: a ciphertext pasted here instead of a variable name must not reach a log.
      throw configError(
        `fetchData.${key} must name an environment variable (letters, digits and _, not starting with a digit); the value given is not one (not shown).`,
      )
    }
    const contextProblem = contextCheck(s.encryptionContext)
    if (contextProblem) throw configError(`fetchData.${key}.encryptionContext ${contextProblem}.`)
    if (s.keyId !== undefined && (typeof s.keyId !== 'string' || !s.keyId)) {
      throw configError(`fetchData.${key}.keyId must be a non-empty string.`)
    }
    if (s.json !== undefined && typeof s.json !== 'boolean')
      throw configError(`fetchData.${key}.json must be a boolean.`)
    const context =
      'encryptionContext' in s && s.encryptionContext !== undefined
        ? (s.encryptionContext as EncryptionContext | false)
        : options.encryptionContext
    return {
      key,
      variable: s.variable,
      context: resolveContext(key, context, env),
      keyId: (s.keyId as string | undefined) ?? options.keyId,
      json: (s.json as boolean | undefined) ?? (options.json === true || jsonKeys.includes(key)),
    }
  })
}
