import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { KmsProtocolError } from './protocol-error.ts'

/*
 * Ciphertext blob layout, version 1 (all the endpoint needs to find the key and authenticate):
 *   [0]          version (0x01)
 *   [1]          key id length n
 *   [2, 2+n)     key id (ASCII)
 *   next 12      AES-GCM IV
 *   next 16      AES-GCM tag
 *   rest         ciphertext
 * The encryption context is not stored: like KMS, the caller must present it again, and it is
 * bound as the GCM additional authenticated data, so a different or missing context fails.
 */
const version = 1
const ivLength = 12
const tagLength = 16

export type EncryptionContext = Record<string, string>

/** Canonical AAD: the pairs sorted by key, so the order a client sends them in does not matter. */
export function contextAad(context: EncryptionContext | undefined): Buffer {
  if (!context) return Buffer.alloc(0)
  const pairs = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return pairs.length === 0 ? Buffer.alloc(0) : Buffer.from(JSON.stringify(pairs), 'utf8')
}

export function seal(
  keyId: string,
  material: Buffer,
  plaintext: Buffer,
  context?: EncryptionContext,
): Buffer {
  const id = Buffer.from(keyId, 'ascii')
  const iv = randomBytes(ivLength)
  const cipher = createCipheriv('aes-256-gcm', material, iv)
  cipher.setAAD(contextAad(context))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([Buffer.from([version, id.length]), id, iv, cipher.getAuthTag(), body])
}

const invalidCiphertext = () =>
  new KmsProtocolError(
    'InvalidCiphertextException',
    'The ciphertext is invalid or was not made by this endpoint.',
  )

/** Reads the key id out of a blob without decrypting it. */
export function blobKeyId(blob: Buffer): string {
  if (blob.length < 2 || blob[0] !== version) throw invalidCiphertext()
  const n = blob[1] ?? 0
  if (n === 0 || blob.length < 2 + n + ivLength + tagLength) throw invalidCiphertext()
  return blob.subarray(2, 2 + n).toString('ascii')
}

export function open(blob: Buffer, material: Buffer, context?: EncryptionContext): Buffer {
  const n = blob[1] ?? 0
  const ivStart = 2 + n
  const tagStart = ivStart + ivLength
  const bodyStart = tagStart + tagLength
  const iv = blob.subarray(ivStart, tagStart)
  const tag = blob.subarray(tagStart, bodyStart)
  try {
    const decipher = createDecipheriv('aes-256-gcm', material, iv)
    decipher.setAAD(contextAad(context))
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(blob.subarray(bodyStart)), decipher.final()])
  } catch {
    // Wrong key material, tampered blob, or a context that differs from the one it was sealed with.
    throw invalidCiphertext()
  }
}
