import { configError, type KmsEnvError } from './errors.ts'
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
  /**
   * Why this key cannot be decrypted, found when the middleware was built but thrown only when it runs:
   * the default context needs AWS_LAMBDA_FUNCTION_NAME, which a module loaded outside Lambda may lack.
   */
  problem?: KmsEnvError
}

const specKeys = new Set(['variable', 'encryptionContext', 'keyId', 'json'])

const missingFunctionName = (key: string, variable: string) =>
  configError(
    `${variable} (fetchData.${key}): encryptionContext defaults to { LambdaFunctionName: AWS_LAMBDA_FUNCTION_NAME }, but AWS_LAMBDA_FUNCTION_NAME is not set (running outside Lambda?).`,
    "set AWS_LAMBDA_FUNCTION_NAME to the function's name, pass encryptionContext: { LambdaFunctionName: '<function name>' }, or encryptionContext: false for ciphertexts made without a context.",
  )

/** The context of a Decrypt (undefined: none), or the problem that prevents building the default one. */
function resolveContext(
  key: string,
  variable: string,
  value: EncryptionContext | false | undefined,
  env: NodeJS.ProcessEnv,
): Pick<KeyPlan, 'context' | 'problem'> {
  if (value === false) return { context: undefined }
  if (value === undefined) {
    const fn = env.AWS_LAMBDA_FUNCTION_NAME
    return fn
      ? { context: { LambdaFunctionName: fn } }
      : { context: undefined, problem: missingFunctionName(key, variable) }
  }
  // KMS treats an empty context as none; so do we, so the Decrypt request is the same.
  return { context: Object.keys(value).length === 0 ? undefined : { ...value } }
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
      ...resolveContext(key, s.variable, context, env),
      keyId: (s.keyId as string | undefined) ?? options.keyId,
      json: (s.json as boolean | undefined) ?? (options.json === true || jsonKeys.includes(key)),
    }
  })
}
