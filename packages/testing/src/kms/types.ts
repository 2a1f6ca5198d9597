/** One call received by the KMS test endpoint. Never holds plaintext. */
export interface KmsCall {
  operation: string
  /** The KMS key the call concerned, resolved to its key id (for Decrypt without KeyId: the blob's key). */
  keyId: string | undefined
  /** The KeyId exactly as the request sent it (alias, ARN or id); absent when the request had none. */
  requestedKeyId?: string
  encryptionContext: Record<string, string> | undefined
  /** HTTP status answered, or 0 when the call was left unanswered (hang fault). */
  status: number
  errorType: string | undefined
  at: number
}

export interface KmsKey {
  keyId: string
  arn: string
  aliases: string[]
  enabled: boolean
}

export interface StartKmsOptions {
  /** Default 'us-east-1'. */
  region?: string
  /** Default '111122223333'. */
  accountId?: string
  /** Keys to create at start, by alias ('alias/rdskit-dev'). */
  aliases?: string[]
  /** Port to listen on; default 0 (a free port). Local dev servers may want a stable one. */
  port?: number
  /** Initial latency added to every call (ms); same as `faults.latency(ms)` right after start. */
  latencyMs?: number
}

/** Faults applied to the next calls; each returns void and can be combined. */
export interface KmsFaults {
  /** Add this latency to every call (ms). */
  latency(ms: number): void
  /** Answer the next `count` calls with ThrottlingException (HTTP 400). */
  throttleNext(count: number): void
  /** Answer the next `count` calls with a 5xx (default 500, KMSInternalException). */
  failNext(count: number, status?: number): void
  /** AccessDeniedException for every call on this key (id, ARN or alias). */
  denyKey(key: string): void
  /** AccessDeniedException for every call whose encryption context contains all these pairs. */
  denyContext(context: Record<string, string>): void
  /** Never answer the next `count` calls (the socket stays open). */
  hangNext(count: number): void
  clear(): void
}

export interface KmsEndpoint {
  /** http://127.0.0.1:port — give it to the SDK as `endpoint` or AWS_ENDPOINT_URL_KMS. */
  url: string
  region: string
  /** Dummy credentials the SDK signs with (the endpoint does not verify signatures). */
  credentials: { accessKeyId: string; secretAccessKey: string }
  createKey(options?: { alias?: string; description?: string }): Promise<KmsKey>
  disableKey(key: string): void
  enableKey(key: string): void
  keys(): KmsKey[]
  faults: KmsFaults
  /** Calls received so far, oldest first. */
  calls(): KmsCall[]
  clearCalls(): void
  stop(): Promise<void>
}
