import { randomBytes } from 'node:crypto'
import { blobKeyId, type EncryptionContext, open, seal } from './envelope.ts'
import type { KeyStore, StoredKey } from './keystore.ts'
import { KmsProtocolError, validation } from './protocol-error.ts'

export type Body = Record<string, unknown>
type Operation = (body: Body, store: KeyStore) => Record<string, unknown>

const maxPlaintext = 4096

function stringField(body: Body, field: string, required: true): string
function stringField(body: Body, field: string, required?: false): string | undefined
function stringField(body: Body, field: string, required = false): string | undefined {
  const value = body[field]
  if (value === undefined || value === null) {
    if (required) throw validation(`1 validation error detected: Value null at '${field}' must not be null`)
    return undefined
  }
  if (typeof value !== 'string')
    throw new KmsProtocolError('SerializationException', `${field} must be a string`)
  return value
}

function blobField(body: Body, field: string): Buffer {
  return Buffer.from(stringField(body, field, true), 'base64')
}

/** The encryption context of a request, validated as a flat string map; undefined when absent. */
export function contextOf(body: Body): EncryptionContext | undefined {
  const value = body.EncryptionContext
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new KmsProtocolError('SerializationException', 'EncryptionContext must be a map of strings')
  }
  for (const v of Object.values(value)) {
    if (typeof v !== 'string')
      throw new KmsProtocolError('SerializationException', 'EncryptionContext values must be strings')
  }
  return value as EncryptionContext
}

/** The key reference a call concerns: its KeyId, or for Decrypt without one, the key inside the blob. */
export function keyRefOf(operation: string, body: Body): string | undefined {
  const keyId = typeof body.KeyId === 'string' ? body.KeyId : undefined
  if (keyId || operation !== 'Decrypt' || typeof body.CiphertextBlob !== 'string') return keyId
  try {
    return blobKeyId(Buffer.from(body.CiphertextBlob, 'base64'))
  } catch {
    return undefined
  }
}

function usable(key: StoredKey): StoredKey {
  if (!key.enabled) throw new KmsProtocolError('DisabledException', `${key.arn} is disabled.`)
  return key
}

function plaintextField(body: Body): Buffer {
  const plaintext = blobField(body, 'Plaintext')
  if (plaintext.length < 1 || plaintext.length > maxPlaintext) {
    throw validation(
      `1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and ${maxPlaintext}`,
    )
  }
  return plaintext
}

function metadata(key: StoredKey): Record<string, unknown> {
  const arnParts = key.arn.split(':')
  return {
    AWSAccountId: arnParts[4],
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: key.created.getTime() / 1000,
    Enabled: key.enabled,
    Description: key.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: key.enabled ? 'Enabled' : 'Disabled',
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    KeySpec: 'SYMMETRIC_DEFAULT',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  }
}

function dataKeyLength(body: Body): number {
  const spec = stringField(body, 'KeySpec')
  const bytes = body.NumberOfBytes
  if (spec !== undefined && bytes !== undefined)
    throw validation('Specify either KeySpec or NumberOfBytes, not both.')
  if (spec === 'AES_256') return 32
  if (spec === 'AES_128') return 16
  if (spec !== undefined) throw validation(`KeySpec '${spec}' must be AES_256 or AES_128.`)
  if (typeof bytes === 'number' && Number.isInteger(bytes) && bytes >= 1 && bytes <= 1024) return bytes
  throw validation('Specify KeySpec (AES_256 | AES_128) or NumberOfBytes (1-1024).')
}

export const operations: Record<string, Operation> = {
  Encrypt(body, store) {
    const key = usable(store.resolve(stringField(body, 'KeyId', true)))
    const blob = seal(key.keyId, key.material, plaintextField(body), contextOf(body))
    return {
      CiphertextBlob: blob.toString('base64'),
      KeyId: key.arn,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    }
  },

  Decrypt(body, store) {
    const blob = blobField(body, 'CiphertextBlob')
    const owner = store.find(blobKeyId(blob))
    const requested = stringField(body, 'KeyId')
    if (requested !== undefined) {
      const pinned = store.resolve(requested)
      if (!owner || pinned.keyId !== owner.keyId) {
        throw new KmsProtocolError(
          'IncorrectKeyException',
          'The key ID in the request does not identify the KMS key used to encrypt the ciphertext.',
        )
      }
    }
    if (!owner)
      throw new KmsProtocolError('NotFoundException', 'The KMS key that made this ciphertext does not exist.')
    const plaintext = open(blob, usable(owner).material, contextOf(body))
    return {
      Plaintext: plaintext.toString('base64'),
      KeyId: owner.arn,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    }
  },

  GenerateDataKey(body, store) {
    const key = usable(store.resolve(stringField(body, 'KeyId', true)))
    const plaintext = randomBytes(dataKeyLength(body))
    const blob = seal(key.keyId, key.material, plaintext, contextOf(body))
    return {
      CiphertextBlob: blob.toString('base64'),
      Plaintext: plaintext.toString('base64'),
      KeyId: key.arn,
    }
  },

  DescribeKey(body, store) {
    return { KeyMetadata: metadata(store.resolve(stringField(body, 'KeyId', true))) }
  },

  CreateKey(body, store) {
    const usage = stringField(body, 'KeyUsage')
    const spec = stringField(body, 'KeySpec') ?? stringField(body, 'CustomerMasterKeySpec')
    if ((usage && usage !== 'ENCRYPT_DECRYPT') || (spec && spec !== 'SYMMETRIC_DEFAULT')) {
      throw new KmsProtocolError(
        'UnsupportedOperationException',
        'The test endpoint supports only symmetric ENCRYPT_DECRYPT keys.',
      )
    }
    return { KeyMetadata: metadata(store.create(stringField(body, 'Description'))) }
  },

  CreateAlias(body, store) {
    store.alias(stringField(body, 'AliasName', true), stringField(body, 'TargetKeyId', true))
    return {}
  },

  ListAliases(body, store) {
    const filter = stringField(body, 'KeyId')
    const target = filter === undefined ? undefined : store.resolve(filter).keyId
    const aliases = store
      .aliasEntries()
      .filter(([, keyId]) => target === undefined || keyId === target)
      .map(([alias, keyId]) => ({ AliasName: alias, AliasArn: store.aliasArn(alias), TargetKeyId: keyId }))
    return { Aliases: aliases, Truncated: false }
  },
}
