import { ConnectWatch, watchedAgents } from './connect-watch.ts'
import { defaults } from './defaults.ts'
import { configError } from './errors.ts'

export type Options = typeof defaults

/** The options after validation, with the watch on the client's connections when kms-env built its handler. */
export type ResolvedOptions = Options & { connectWatch: ConnectWatch | undefined }

type Check = (value: unknown) => string | undefined

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)
const ofType =
  (type: 'string' | 'boolean' | 'function'): Check =>
  (v) =>
    typeof v === type ? undefined : `must be a ${type}`
const optional =
  (check: Check): Check =>
  (v) =>
    v === undefined ? undefined : check(v)
const nonEmptyString: Check = (v) =>
  typeof v === 'string' && v.length > 0 ? undefined : 'must be a non-empty string'
const object: Check = (v) => (isObject(v) ? undefined : 'must be an object')

export const envVarName = /^[A-Za-z_][A-Za-z0-9_]*$/

export const contextCheck: Check = (v) => {
  if (v === undefined || v === false) return undefined
  if (!isObject(v)) return 'must be an object of strings, or false'
  const bad = Object.entries(v).find(([, value]) => typeof value !== 'string')
  return bad ? `must hold only string values ('${bad[0]}' is not a string)` : undefined
}

const milliseconds =
  (min: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min ? undefined : `must be an integer >= ${min} (ms)`

const expiry: Check = (v) =>
  Number.isInteger(v) && (v as number) >= -1 ? undefined : 'must be an integer >= -1'

const checks: Record<keyof Options, Check> = {
  fetchData: object,
  encryptionContext: contextCheck,
  keyId: optional(nonEmptyString),
  json: (v) =>
    typeof v === 'boolean' || (Array.isArray(v) && v.every((k) => typeof k === 'string'))
      ? undefined
      : 'must be a boolean or an array of fetchData keys',
  setToContext: ofType('boolean'),
  setToEnv: ofType('boolean'),
  requestTimeout: milliseconds(0),
  timeout: milliseconds(1),
  timeoutMargin: milliseconds(0),
  AwsClient: ofType('function'),
  awsClientOptions: object,
  awsClientAssumeRole: optional(nonEmptyString),
  awsClientCapture: optional(ofType('function')),
  disablePrefetch: ofType('boolean'),
  cacheKey: nonEmptyString,
  cacheKeyExpiry: (v) =>
    isObject(v) && Object.values(v).every((e) => expiry(e) === undefined)
      ? undefined
      : 'must be an object of integers >= -1',
  cacheExpiry: expiry,
}

/** Options `decryptEnv` accepts: the ones about decryption, not Middy's cache or context. */
export const decryptEnvOptionNames = [
  'fetchData',
  'encryptionContext',
  'keyId',
  'json',
  'setToEnv',
  'timeout',
  'requestTimeout',
  'AwsClient',
  'awsClientOptions',
  'awsClientCapture',
] as const satisfies ReadonlyArray<keyof Options>

/**
 * Merges the defaults and validates every option, throwing CONFIG_INVALID that names the option.
 * `allowed` limits which options the caller (`decryptEnv`) accepts.
 */
export function resolveOptions(
  input: unknown,
  caller: string,
  allowed: ReadonlyArray<keyof Options> = Object.keys(checks) as Array<keyof Options>,
): ResolvedOptions {
  if (input !== undefined && !isObject(input))
    throw configError(`${caller}(options): options must be an object.`)
  const given = input ?? {}
  for (const name of Object.keys(given)) {
    if (!(allowed as readonly string[]).includes(name)) {
      throw configError(`${caller}: unknown option '${name}'.`, `known options: ${allowed.join(', ')}.`)
    }
  }
  const options = { ...defaults, ...given } as Options
  for (const name of allowed) {
    const problem = checks[name](options[name])
    if (problem) throw configError(`${caller}: option '${name}' ${problem}.`)
  }
  return withTimeout(options)
}

/**
 * Gives the SDK client kms-env's request handler options unless the caller brought a request handler:
 * `requestTimeout` per attempt, and agents whose connects are watched (to tell no route from slow KMS).
 */
function withTimeout(options: Options): ResolvedOptions {
  const client = options.awsClientOptions
  if (client.requestHandler !== undefined) return { ...options, connectWatch: undefined }
  const connectWatch = new ConnectWatch()
  const ms = options.requestTimeout || undefined
  return {
    ...options,
    connectWatch,
    awsClientOptions: {
      ...client,
      requestHandler: {
        ...watchedAgents(connectWatch),
        ...(ms ? { connectionTimeout: ms, requestTimeout: ms, throwOnRequestTimeout: true } : {}),
      },
    },
  }
}
