import { randomBytes, randomUUID } from 'node:crypto'
import { KmsProtocolError, validation } from './protocol-error.ts'
import type { KmsKey } from './types.ts'

export interface StoredKey {
  keyId: string
  arn: string
  description: string
  enabled: boolean
  created: Date
  /** The AES-256 key; never leaves the endpoint. */
  material: Buffer
}

/** Keys and aliases of one endpoint, resolvable by key id, key ARN, alias name or alias ARN. */
export class KeyStore {
  readonly #keys = new Map<string, StoredKey>()
  readonly #aliases = new Map<string, string>()
  readonly #arnPrefix: string

  constructor(region: string, accountId: string) {
    this.#arnPrefix = `arn:aws:kms:${region}:${accountId}:`
  }

  create(description = ''): StoredKey {
    const keyId = randomUUID()
    const key: StoredKey = {
      keyId,
      arn: `${this.#arnPrefix}key/${keyId}`,
      description,
      enabled: true,
      created: new Date(),
      material: randomBytes(32),
    }
    this.#keys.set(keyId, key)
    return key
  }

  alias(aliasName: string, target: string): void {
    if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(aliasName)) {
      throw validation(`Alias name '${aliasName}' must start with 'alias/' followed by [a-zA-Z0-9/_-].`)
    }
    if (aliasName.startsWith('alias/aws/')) {
      throw new KmsProtocolError(
        'NotAuthorizedException',
        `Alias names beginning with 'alias/aws/' are reserved.`,
      )
    }
    if (this.#aliases.has(aliasName)) {
      throw new KmsProtocolError(
        'AlreadyExistsException',
        `Alias ${this.aliasArn(aliasName)} already exists.`,
      )
    }
    const key = this.resolve(target)
    if (target.includes('alias/')) throw validation('TargetKeyId must be a key id or key ARN, not an alias.')
    this.#aliases.set(aliasName, key.keyId)
  }

  aliasArn(aliasName: string): string {
    return `${this.#arnPrefix}${aliasName}`
  }

  /** Resolves a reference, or undefined when it names nothing. */
  find(ref: string): StoredKey | undefined {
    let name = ref
    if (name.startsWith(this.#arnPrefix)) name = name.slice(this.#arnPrefix.length)
    if (name.startsWith('key/')) name = name.slice(4)
    if (name.startsWith('alias/')) {
      const target = this.#aliases.get(name)
      return target === undefined ? undefined : this.#keys.get(target)
    }
    return this.#keys.get(name)
  }

  resolve(ref: string): StoredKey {
    const key = this.find(ref)
    if (!key) {
      const what = ref.includes('alias/') ? `Alias ${ref}` : `Key '${ref}'`
      throw new KmsProtocolError('NotFoundException', `${what} does not exist`)
    }
    return key
  }

  aliasesOf(keyId: string): string[] {
    return [...this.#aliases].filter(([, target]) => target === keyId).map(([alias]) => alias)
  }

  aliasEntries(): Array<[alias: string, keyId: string]> {
    return [...this.#aliases]
  }

  list(): StoredKey[] {
    return [...this.#keys.values()]
  }

  /** The public view of a key (no material). */
  view(key: StoredKey): KmsKey {
    return { keyId: key.keyId, arn: key.arn, aliases: this.aliasesOf(key.keyId), enabled: key.enabled }
  }
}
