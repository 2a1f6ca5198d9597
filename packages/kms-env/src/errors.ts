/**
 * Stable error codes of `KmsEnvError`, each with its one-line meaning.
 * The codes are part of the public API: match on `error.code`, never on the message.
 */
export const kmsEnvErrorCodes = {
  MISSING_VARIABLE: 'The environment variable named in fetchData is not set or is empty.',
  NOT_BASE64: 'The environment variable does not hold a base64 KMS ciphertext (plaintext left in it?).',
  TOO_LARGE: 'The ciphertext is over KMS’s 6144-byte limit, or a value to encrypt is over 4096 bytes.',
  DECRYPT_FAILED:
    'KMS (or the network on the way to it) refused or failed the Decrypt; `kmsError` names why.',
  NOT_UTF8: 'The decrypted bytes are not valid UTF-8 text (a binary value, e.g. a data key).',
  JSON_INVALID: 'A value chosen for JSON parsing is not valid JSON.',
  CONFIG_INVALID:
    'An option is invalid (thrown when the middleware is built), or an environment setting the default depends on is missing (AWS_LAMBDA_FUNCTION_NAME; thrown when it first runs).',
} as const

export type KmsEnvErrorCode = keyof typeof kmsEnvErrorCodes

export interface KmsEnvErrorDetails {
  /** The environment variable involved, if any. */
  variable?: string | undefined
  /** The fetchData key (request.internal key) involved, if any. */
  key?: string | undefined
  /** The name of the KMS / SDK error, e.g. 'InvalidCiphertextException' or 'TimeoutError'. */
  kmsError?: string | undefined
  /** What to do about it. Also appended to the message. */
  hint?: string | undefined
  /** A sanitized copy of the underlying error: never the SDK error itself (it can reach the request). */
  cause?: unknown
  /** The other variables that failed in the same batch. */
  others?: readonly KmsEnvError[]
}

/**
 * The one error class of @rdskit/kms-env. Its message names the variable and a hint and never holds
 * a plaintext or a ciphertext; neither does its `cause` or its JSON.
 */
export class KmsEnvError extends Error {
  readonly code: KmsEnvErrorCode
  readonly variable: string | undefined
  readonly key: string | undefined
  readonly kmsError: string | undefined
  readonly hint: string | undefined
  /** When several variables failed at once: the others (this error is the first, in fetchData order). */
  readonly others: readonly KmsEnvError[]
  readonly #summary: string
  readonly #details: KmsEnvErrorDetails

  constructor(code: KmsEnvErrorCode, message: string, details: KmsEnvErrorDetails = {}) {
    const others = details.others ?? []
    const also = others.length
      ? ` ${others.length} more failed too: ${others.map((e) => `${e.variable} (${e.kmsError ?? e.code})`).join(', ')}.`
      : ''
    const full = `${message}${also}${details.hint ? ` Hint: ${details.hint}` : ''}`
    super(full, details.cause === undefined ? undefined : { cause: details.cause })
    this.#summary = message
    this.#details = details
    this.others = others
    this.name = 'KmsEnvError'
    this.code = code
    this.variable = details.variable
    this.key = details.key
    this.kmsError = details.kmsError
    this.hint = details.hint
  }

  /** This error, naming the other failures of the same batch in its message. */
  withOthers(others: readonly KmsEnvError[]): KmsEnvError {
    return new KmsEnvError(this.code, this.#summary, { ...this.#details, others })
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      variable: this.variable,
      key: this.key,
      kmsError: this.kmsError,
      hint: this.hint,
      ...(this.others.length ? { others: this.others.map((e) => e.toJSON()) } : {}),
    }
  }
}

export const configError = (message: string, hint?: string) =>
  new KmsEnvError('CONFIG_INVALID', message, { hint })
