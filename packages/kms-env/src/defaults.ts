import { KMSClient } from '@aws-sdk/client-kms'
import type { EncryptionContext, FetchSpec } from './types.ts'

/** The options of `kmsEnv` (and, where they apply, `decryptEnv`) with their defaults. */
export const defaults = {
  /**
   * `Record<string, string | KeySpec>`, default `{}`. What to decrypt: `{ internalKey: 'ENV_VAR' }`, or the
   * long form `{ internalKey: { variable: 'ENV_VAR', encryptionContext?, keyId?, json? } }` to override the
   * top-level `encryptionContext`, `keyId` or `json` for that key. Each value lands in
   * `request.internal[internalKey]` (read it with `getInternal`).
   */
  fetchData: {} as Record<string, FetchSpec>,
  /**
   * `Record<string, string> | false | undefined`, default `undefined`, meaning
   * `{ LambdaFunctionName: process.env.AWS_LAMBDA_FUNCTION_NAME }`: the context the Lambda console's
   * encryption helpers use (if that variable is unset, the middleware's first run, or `decryptEnv`, fails
   * with CONFIG_INVALID naming it; building never throws for it).
   * An object replaces it; `false` decrypts with no context (ciphertexts made before the console added it).
   */
  encryptionContext: undefined as EncryptionContext | false | undefined,
  /**
   * `string | undefined`, default `undefined`. Pins every Decrypt to this key (key id, key ARN, alias name or
   * alias ARN), as AWS recommends: a ciphertext made with another key fails with IncorrectKeyException.
   */
  keyId: undefined as string | undefined,
  /**
   * `boolean | string[]`, default `false`. `true` parses every plaintext as JSON; a list parses only those
   * fetchData keys. A parse error throws JSON_INVALID naming the key, never the value.
   */
  json: false as boolean | readonly string[],
  /**
   * `boolean`, default `false`. Also put each value on the Lambda `context` under its fetchData key
   * (`context.dbPassword`), typed from `fetchData`.
   */
  setToContext: false,
  /**
   * `boolean`, default `false`. Discouraged: writes each plaintext to `process.env[ENV_VAR]`, where every
   * dependency, child process and crash reporter that dumps the environment can read it.
   * The ciphertext is remembered, so refreshes (`cacheExpiry`) still decrypt the original.
   */
  setToEnv: false,
  /**
   * `number` (ms), default `5000`. Budget of a whole Decrypt (every attempt and the SDK's backoff between
   * them) when no invocation bounds it: the prefetch at INIT, a refresh (`cacheExpiry`), `decryptEnv`. An
   * invocation waiting for a Decrypt brings its deadline forward to the invocation's remaining time minus
   * `timeoutMargin`. At the deadline the Decrypt fails with `kmsError: 'TimeoutError'` and is retried on
   * the next invocation.
   */
  timeout: 5000,
  /**
   * `number` (ms), default `500`. Time kept back from `context.getRemainingTimeInMillis()`, so the handler
   * can still answer (e.g. a 503) after a Decrypt that ran out of time, before Lambda kills the invocation.
   */
  timeoutMargin: 500,
  /**
   * `number` (ms), default `2000`. Per-attempt deadline for connecting to KMS and for its answer, so a hung
   * attempt is retried within the budget (`timeout`). Applied only when `awsClientOptions.requestHandler` is
   * not given (kms-env then also watches the connections, to tell "no route" from "slow KMS" in the hint);
   * `0` disables it.
   */
  requestTimeout: 2000,
  /** `new (config) => KMSClient`, default `KMSClient` from @aws-sdk/client-kms. Swap for a wrapped client. */
  AwsClient: KMSClient,
  /**
   * `KMSClientConfig`, default `{}`. Passed to `new AwsClient(...)`: `region`, `endpoint`, `maxAttempts`,
   * `requestHandler`, `credentials`… The SDK also honours `AWS_ENDPOINT_URL_KMS`.
   */
  awsClientOptions: {} as Record<string, unknown>,
  /**
   * `string | undefined`, default `undefined`. The `request.internal` key under which `@middy/sts` puts
   * credentials to assume a role with; disables prefetch (credentials are known only per invocation).
   */
  awsClientAssumeRole: undefined as string | undefined,
  /**
   * `(client) => client | undefined`, default `undefined`. Wraps the client, e.g. `captureAWSv3Client` of
   * AWS X-Ray; applied only when `disablePrefetch: true` (X-Ray needs an invocation's segment).
   */
  awsClientCapture: undefined as ((client: KMSClient) => KMSClient) | undefined,
  /**
   * `boolean`, default `false`. Prefetch (the default) starts every Decrypt at once when the middleware is
   * built, at module load (Lambda INIT); `true` waits for the first invocation.
   */
  disablePrefetch: false,
  /** `string`, default `'@rdskit/kms-env'`. Key of this middleware's entry in @middy/util's shared cache. */
  cacheKey: '@rdskit/kms-env',
  /** `Record<string, number>`, default `{}`. Per-cacheKey override of `cacheExpiry` (@middy/util). */
  cacheKeyExpiry: {} as Record<string, number>,
  /**
   * `number` (ms), default `-1`: cache for the life of the container, since a function version's
   * environment never changes. `0` decrypts on every invocation; `n > 0` refreshes after n ms.
   */
  cacheExpiry: -1,
}
