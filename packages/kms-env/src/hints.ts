import type { Stall } from './connect-watch.ts'
import { KmsEnvError } from './errors.ts'
import type { KeyPlan } from './plan.ts'

export interface DecryptFailure extends HintContext {
  plan: KeyPlan
}

/** What a hint may mention: the variable's plan when there is one (not for the CLI's Encrypt). */
export interface HintContext {
  plan?: KeyPlan | undefined
  region: string | undefined
  /**
   * For a timeout: where the Decrypt was stuck, `'no-time'` when the invocation left it none, undefined when
   * unknown (a request handler kms-env does not watch).
   */
  stall?: Stall | 'no-time' | undefined
  /** For a timeout: the whole Decrypt's budget (ms). */
  budgetMs?: number | undefined
}

const timeoutCodes = new Set(['ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED'])
const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE'])

/** The error's name as KMS or the SDK gives it, normalized (`KMSServiceException` carries the real name). */
export function errorName(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; code?: unknown; __type?: unknown }
    if (typeof e.code === 'string' && timeoutCodes.has(e.code)) return 'TimeoutError'
    if (typeof e.name === 'string' && e.name !== 'Error') return e.name
    if (typeof e.code === 'string') return e.code
  }
  return 'Error'
}

function describeContext(plan: KeyPlan | undefined): string {
  return plan?.context ? JSON.stringify(plan.context) : 'no encryption context'
}

const routeAdvice = (where: string) =>
  `a function in a VPC needs a NAT gateway or the com.amazonaws.${where}.kms interface VPC endpoint (with private DNS), and its security group must allow HTTPS to it`

/** A timeout's hint: no route (a connect never completed) apart from a slow answer, when known. */
function timeoutHint(where: string, { stall, budgetMs }: HintContext): string {
  const within = budgetMs === undefined ? 'in time' : `within ${budgetMs} ms`
  switch (stall) {
    case 'connect':
      return `no route to KMS: no connection to the KMS endpoint completed ${within}; ${routeAdvice(where)}.`
    case 'response':
      return `slow KMS: the connection to KMS was open but the answer did not come ${within} (KMS or a proxy on the way was slow); it is retried on the next invocation. Decrypt gets the invocation's remaining time minus timeoutMargin (at most timeout): a longer function timeout gives it more.`
    case 'no-time':
      return `the invocation had no time left for Decrypt (remaining time minus timeoutMargin: ${budgetMs} ms); raise the function's timeout or lower timeoutMargin.`
    default:
      return `KMS did not answer ${within}: if the connection never opened there is no route to KMS (${routeAdvice(where)}); otherwise KMS was slow and the call is retried on the next invocation.`
  }
}

/** The hint for a KMS / network error, naming what to check. Never mentions the value. */
export function hintFor(name: string, failure: HintContext): string {
  const { plan, region } = failure
  const fn = plan?.context?.LambdaFunctionName
  const where = region ?? '<region>'
  switch (name) {
    case 'InvalidCiphertextException':
      return (
        `the value was encrypted for another function name or encryption context than ${describeContext(plan)} ` +
        '(function renamed, or ciphertext copied from another function?), or it is not a KMS ciphertext. ' +
        `Re-encrypt it: rdskit-kms encrypt --key-id <key> --function-name ${fn ?? '<function>'}` +
        (plan?.context ? '; a ciphertext made without a context needs encryptionContext: false.' : '.')
      )
    case 'IncorrectKeyException':
      return `the ciphertext was made with another KMS key than keyId '${plan?.keyId}': re-encrypt it with that key, or fix keyId.`
    case 'AccessDeniedException':
      return (
        'the function’s role needs an Allow for kms:Decrypt on the key' +
        (fn
          ? ` whose condition "kms:EncryptionContext:LambdaFunctionName" matches "${fn}"`
          : ' (and any kms:EncryptionContext condition must match the context used)') +
        '; also check the key policy and any VPC endpoint policy.'
      )
    case 'DisabledException':
    case 'KMSInvalidStateException':
    case 'NotFoundException':
      return `check the key’s state in ${where} (aws kms describe-key --key-id <key>): it must exist in this account and region, be Enabled and not pending deletion.`
    case 'InvalidKeyUsageException':
      return 'the key must be a symmetric ENCRYPT_DECRYPT key.'
    case 'ThrottlingException':
      return 'KMS throttled Decrypt (a per-account, per-region quota shared by every caller) beyond the SDK’s retries; it is retried on the next invocation. Raise awsClientOptions.maxAttempts or ask for a quota increase.'
    case 'KeyUnavailableException':
    case 'DependencyTimeoutException':
    case 'KMSInternalException':
      return 'a transient KMS failure; it is retried on the next invocation.'
    case 'TimeoutError':
      return timeoutHint(where, failure)
    case 'CredentialsProviderError':
      return 'the SDK found no credentials: in Lambda they come from the execution role; locally set AWS_PROFILE or AWS_ACCESS_KEY_ID.'
    default:
      if (unreachableCodes.has(name)) {
        return 'the KMS endpoint refused or dropped the connection: check AWS_ENDPOINT_URL_KMS / awsClientOptions.endpoint.'
      }
      return 'unexpected error from KMS Decrypt; see `cause`.'
  }
}

/**
 * A copy of the SDK error that keeps what helps (name, message, code, HTTP status, request id, attempts)
 * and drops the rest: the SDK error can reference the raw response, and through middleware state the
 * request holding the ciphertext.
 */
export function sanitizeCause(error: unknown): Error {
  const e = (error ?? {}) as {
    name?: string
    message?: string
    code?: string
    $fault?: string
    $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number; totalRetryDelay?: number }
  }
  const copy = new Error(typeof e.message === 'string' ? e.message : String(error))
  copy.name = errorName(error)
  const extra: Record<string, unknown> = {}
  if (typeof e.code === 'string') extra.code = e.code
  if (typeof e.$fault === 'string') extra.$fault = e.$fault
  if (e.$metadata) {
    const { httpStatusCode, requestId, attempts, totalRetryDelay } = e.$metadata
    extra.$metadata = { httpStatusCode, requestId, attempts, totalRetryDelay }
  }
  // The stack of the SDK error points into the SDK; ours points to where the copy was made. Keep neither.
  copy.stack = `${copy.name}: ${copy.message}`
  return Object.assign(copy, extra)
}

export function decryptFailed(error: unknown, failure: DecryptFailure): KmsEnvError {
  const name = errorName(error)
  const { plan } = failure
  return new KmsEnvError(
    'DECRYPT_FAILED',
    `Could not decrypt ${plan.variable} (fetchData.${plan.key}): ${name}.`,
    {
      variable: plan.variable,
      key: plan.key,
      kmsError: name,
      hint: hintFor(name, failure),
      cause: sanitizeCause(error),
    },
  )
}
