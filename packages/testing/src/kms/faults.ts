import type { EncryptionContext } from './envelope.ts'
import type { KeyStore } from './keystore.ts'
import { KmsProtocolError } from './protocol-error.ts'
import type { KmsFaults } from './types.ts'

/** What a call looks like to the fault rules. */
export interface CallTarget {
  keyRef: string | undefined
  keyId: string | undefined
  context: EncryptionContext | undefined
}

const count = (name: string, n: number) => {
  if (!Number.isInteger(n) || n < 0)
    throw new TypeError(`faults.${name}: count must be a non-negative integer`)
  return n
}

/** Fault injection state of one endpoint; `decide` consumes it call by call. */
export class FaultState implements KmsFaults {
  #latency = 0
  #throttle = 0
  #fail = 0
  #failStatus = 500
  #hang = 0
  #deniedKeys: string[] = []
  #deniedContexts: EncryptionContext[] = []
  readonly #store: KeyStore

  constructor(store: KeyStore) {
    this.#store = store
  }

  latency = (ms: number): void => {
    if (!Number.isFinite(ms) || ms < 0)
      throw new TypeError('faults.latency: ms must be a non-negative number')
    this.#latency = ms
  }

  throttleNext = (n: number): void => {
    this.#throttle = count('throttleNext', n)
  }

  failNext = (n: number, status = 500): void => {
    if (!Number.isInteger(status) || status < 500 || status > 599) {
      throw new TypeError('faults.failNext: status must be a 5xx code')
    }
    this.#fail = count('failNext', n)
    this.#failStatus = status
  }

  denyKey = (key: string): void => {
    this.#deniedKeys.push(key)
  }

  denyContext = (context: Record<string, string>): void => {
    this.#deniedContexts.push({ ...context })
  }

  hangNext = (n: number): void => {
    this.#hang = count('hangNext', n)
  }

  clear = (): void => {
    this.#latency = 0
    this.#throttle = 0
    this.#fail = 0
    this.#failStatus = 500
    this.#hang = 0
    this.#deniedKeys = []
    this.#deniedContexts = []
  }

  get latencyMs(): number {
    return this.#latency
  }

  /**
   * The fault for this call, consuming one unit of a counted fault: 'hang', an error to answer,
   * or undefined to serve the call normally. Counted faults apply in the order hang, throttle, 5xx.
   */
  decide(target: CallTarget): 'hang' | KmsProtocolError | undefined {
    if (this.#hang > 0) {
      this.#hang--
      return 'hang'
    }
    if (this.#throttle > 0) {
      this.#throttle--
      return new KmsProtocolError('ThrottlingException', 'Rate exceeded')
    }
    if (this.#fail > 0) {
      this.#fail--
      return new KmsProtocolError('KMSInternalException', 'Injected internal failure.', this.#failStatus)
    }
    if (this.#deniedKeys.some((ref) => this.#matchesKey(ref, target))) {
      return new KmsProtocolError(
        'AccessDeniedException',
        'User is not authorized to use this key (injected).',
      )
    }
    const context = target.context ?? {}
    if (this.#deniedContexts.some((deny) => Object.entries(deny).every(([k, v]) => context[k] === v))) {
      return new KmsProtocolError(
        'AccessDeniedException',
        'User is not authorized to perform kms operations with this encryption context (injected).',
      )
    }
    return undefined
  }

  #matchesKey(ref: string, target: CallTarget): boolean {
    if (ref === target.keyRef) return true
    const denied = this.#store.find(ref)
    return denied !== undefined && denied.keyId === target.keyId
  }
}
