import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms'
import type { Request } from '@middy/core'

/** KMS encryption context: the string pairs bound to the ciphertext. */
export type EncryptionContext = Record<string, string>

/** Per-key settings: the long form of a `fetchData` entry. Unset fields fall back to the top-level option. */
export interface KeySpec {
  /** Name of the environment variable holding the base64 ciphertext. */
  variable: string
  /** Overrides the top-level `encryptionContext` for this key (`false`: decrypt with none). */
  encryptionContext?: EncryptionContext | false
  /** Overrides the top-level `keyId` for this key. */
  keyId?: string
  /** Parse this key's plaintext as JSON (overrides the top-level `json` for this key). */
  json?: boolean
}

/** A `fetchData` entry: the variable name, or the long form with per-key overrides. */
export type FetchSpec = string | KeySpec

/** Options shared by `decryptEnv` and `kmsEnv` (see `defaults` for each one's documentation). */
export interface DecryptEnvOptions<Client = KMSClient> {
  fetchData?: Readonly<Record<string, FetchSpec>>
  encryptionContext?: EncryptionContext | false
  keyId?: string
  json?: boolean | readonly string[]
  setToEnv?: boolean
  requestTimeout?: number
  timeout?: number
  AwsClient?: new (config: KMSClientConfig) => Client
  awsClientOptions?: Partial<KMSClientConfig>
  awsClientCapture?: (client: Client) => Client
}

/** Options of the `kmsEnv` middleware (see `defaults` for each one's documentation). */
export interface KmsEnvOptions<Client = KMSClient> extends DecryptEnvOptions<Client> {
  timeoutMargin?: number
  setToContext?: boolean
  awsClientAssumeRole?: string
  disablePrefetch?: boolean
  cacheKey?: string
  cacheKeyExpiry?: Record<string, number>
  cacheExpiry?: number
}

type JsonChosen<TOptions, TKey, TSpec> = TSpec extends { json: true }
  ? true
  : TSpec extends { json: false }
    ? false
    : TOptions extends { json: true }
      ? true
      : TOptions extends { json: readonly (infer TJson)[] }
        ? TKey extends TJson
          ? true
          : false
        : false

/** The decrypted values by fetchData key: `string`, or `unknown` for keys parsed as JSON. */
export type DecryptedValues<TOptions> = TOptions extends { fetchData: infer TFetchData }
  ? {
      -readonly [TKey in keyof TFetchData]: JsonChosen<TOptions, TKey, TFetchData[TKey]> extends true
        ? unknown
        : string
    }
  : Record<never, never>

type LambdaContext = Request['context']

/** The Lambda context as the handler sees it: with the decrypted values when `setToContext: true`. */
export type KmsEnvContext<TOptions> = TOptions extends { setToContext: true }
  ? LambdaContext & DecryptedValues<TOptions>
  : LambdaContext
