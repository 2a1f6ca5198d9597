import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  ListAliasesCommand,
} from '@aws-sdk/client-kms'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startKms } from '../src/index.ts'
import type { KmsEndpoint, KmsKey } from '../src/kms/types.ts'
import { kmsClient, rejection } from './kms-client.ts'

const utf8 = new TextEncoder()
const text = 'パスワード🔑 with ünïcödé — 漢字 and 👨‍👩‍👧'
const context = { LambdaFunctionName: 'orders-api' }

let kms: KmsEndpoint
let key: KmsKey
let other: KmsKey
beforeAll(async () => {
  kms = await startKms({ aliases: ['alias/rdskit-test'] })
  key = kms.keys()[0] as KmsKey
  other = await kms.createKey({ alias: 'alias/other', description: 'second key' })
})
afterAll(() => kms.stop())

async function encrypt(plaintext: string, options: { keyId?: string; ctx?: Record<string, string> } = {}) {
  const out = await kmsClient(kms).send(
    new EncryptCommand({
      KeyId: options.keyId ?? 'alias/rdskit-test',
      Plaintext: utf8.encode(plaintext),
      EncryptionContext: options.ctx ?? context,
    }),
  )
  return out.CiphertextBlob as Uint8Array
}

describe('startKms round trips through the real @aws-sdk/client-kms', () => {
  it('encrypts and decrypts UTF-8 text (Japanese and emoji) byte for byte', async () => {
    const blob = await encrypt(text)
    expect(Buffer.from(blob).includes(Buffer.from(text))).toBe(false)
    const out = await kmsClient(kms).send(
      new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }),
    )
    expect(new TextDecoder('utf-8', { fatal: true }).decode(out.Plaintext)).toBe(text)
    expect(out.KeyId).toBe(key.arn)
    expect(out.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT')
  })

  it('answers Encrypt with the key ARN, even when called by alias', async () => {
    const out = await kmsClient(kms).send(
      new EncryptCommand({ KeyId: 'alias/rdskit-test', Plaintext: utf8.encode('x') }),
    )
    expect(out.KeyId).toBe(`arn:aws:kms:us-east-1:111122223333:key/${key.keyId}`)
  })

  it('makes a different ciphertext for the same plaintext each time', async () => {
    const a = Buffer.from(await encrypt('same'))
    const b = Buffer.from(await encrypt('same'))
    expect(a.equals(b)).toBe(false)
  })

  it('carries the key id in the blob, so Decrypt needs no KeyId and finds the right key', async () => {
    const blob = await encrypt('by other key', { keyId: other.keyId })
    expect(Buffer.from(blob).toString('latin1')).toContain(other.keyId)
    const out = await kmsClient(kms).send(
      new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }),
    )
    expect(out.KeyId).toBe(other.arn)
  })

  it('accepts the encryption context in any key order', async () => {
    const blob = await encrypt('ordered', { ctx: { b: '2', a: '1' } })
    const out = await kmsClient(kms).send(
      new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { a: '1', b: '2' } }),
    )
    expect(Buffer.from(out.Plaintext as Uint8Array).toString()).toBe('ordered')
  })

  it('decrypts ciphertexts made without a context only without one (legacy console ciphertexts)', async () => {
    const blob = await encrypt('legacy', { ctx: {} })
    const out = await kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: blob }))
    expect(Buffer.from(out.Plaintext as Uint8Array).toString()).toBe('legacy')
    const error = await rejection(
      kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })),
    )
    expect(error.name).toBe('InvalidCiphertextException')
  })
})

describe('startKms fails the way KMS fails', () => {
  it('rejects a wrong encryption context with InvalidCiphertextException', async () => {
    const blob = await encrypt('secret')
    const error = await rejection(
      kmsClient(kms).send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { LambdaFunctionName: 'other-fn' } }),
      ),
    )
    expect(error.name).toBe('InvalidCiphertextException')
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(400)
  })

  it('rejects a missing encryption context with InvalidCiphertextException', async () => {
    const blob = await encrypt('secret')
    const error = await rejection(kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: blob })))
    expect(error.name).toBe('InvalidCiphertextException')
  })

  it('rejects a tampered ciphertext and bytes that are not a ciphertext', async () => {
    const blob = Buffer.from(await encrypt('secret'))
    blob[blob.length - 1] = (blob[blob.length - 1] ?? 0) ^ 1
    const tampered = await rejection(
      kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })),
    )
    expect(tampered.name).toBe('InvalidCiphertextException')
    const garbage = await rejection(
      kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: utf8.encode('not a ciphertext at all') })),
    )
    expect(garbage.name).toBe('InvalidCiphertextException')
  })

  it('rejects a Decrypt KeyId that does not match the blob with IncorrectKeyException', async () => {
    const blob = await encrypt('secret')
    const error = await rejection(
      kmsClient(kms).send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, KeyId: other.arn }),
      ),
    )
    expect(error.name).toBe('IncorrectKeyException')
  })

  it('accepts a Decrypt KeyId that names the right key by alias, ARN or id', async () => {
    const blob = await encrypt('pinned')
    for (const ref of [
      'alias/rdskit-test',
      key.arn,
      key.keyId,
      `arn:aws:kms:us-east-1:111122223333:alias/rdskit-test`,
    ]) {
      const out = await kmsClient(kms).send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, KeyId: ref }),
      )
      expect(Buffer.from(out.Plaintext as Uint8Array).toString()).toBe('pinned')
    }
  })

  it('answers DisabledException for a disabled key, and serves it again once enabled', async () => {
    const spare = await kms.createKey({ alias: 'alias/spare' })
    const blob = await encrypt('secret', { keyId: 'alias/spare' })
    kms.disableKey('alias/spare')
    const encryptError = await rejection(encrypt('x', { keyId: spare.keyId }))
    expect(encryptError.name).toBe('DisabledException')
    const decryptError = await rejection(
      kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })),
    )
    expect(decryptError.name).toBe('DisabledException')
    expect(kms.keys().find((k) => k.keyId === spare.keyId)?.enabled).toBe(false)
    kms.enableKey(spare.arn)
    const out = await kmsClient(kms).send(
      new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }),
    )
    expect(Buffer.from(out.Plaintext as Uint8Array).toString()).toBe('secret')
  })

  it('answers NotFoundException for an unknown key or alias', async () => {
    expect((await rejection(encrypt('x', { keyId: 'alias/nope' }))).name).toBe('NotFoundException')
    expect((await rejection(encrypt('x', { keyId: '00000000-0000-0000-0000-000000000000' }))).name).toBe(
      'NotFoundException',
    )
  })

  it('refuses a plaintext over 4096 bytes with ValidationException and accepts exactly 4096', async () => {
    expect(await encrypt('a'.repeat(4096))).toBeInstanceOf(Uint8Array)
    const error = await rejection(encrypt('a'.repeat(4097)))
    expect(error.name).toBe('ValidationException')
    expect(error.message).toMatch(/4096/)
  })
})

describe('startKms key management', () => {
  it('generates a data key whose ciphertext decrypts to its plaintext', async () => {
    const out = await kmsClient(kms).send(
      new GenerateDataKeyCommand({
        KeyId: 'alias/rdskit-test',
        KeySpec: 'AES_256',
        EncryptionContext: context,
      }),
    )
    expect(out.Plaintext).toHaveLength(32)
    const back = await kmsClient(kms).send(
      new DecryptCommand({ CiphertextBlob: out.CiphertextBlob, EncryptionContext: context }),
    )
    expect(Buffer.from(back.Plaintext as Uint8Array).equals(Buffer.from(out.Plaintext as Uint8Array))).toBe(
      true,
    )
  })

  it('creates keys and aliases through the SDK and resolves the alias in DescribeKey and ListAliases', async () => {
    const client = kmsClient(kms)
    const created = await client.send(new CreateKeyCommand({ Description: 'made by the SDK' }))
    const keyId = created.KeyMetadata?.KeyId as string
    expect(created.KeyMetadata?.Arn).toBe(`arn:aws:kms:us-east-1:111122223333:key/${keyId}`)
    expect(created.KeyMetadata?.CreationDate).toBeInstanceOf(Date)
    await client.send(new CreateAliasCommand({ AliasName: 'alias/from-sdk', TargetKeyId: keyId }))
    const described = await client.send(new DescribeKeyCommand({ KeyId: 'alias/from-sdk' }))
    expect(described.KeyMetadata).toMatchObject({
      KeyId: keyId,
      Enabled: true,
      KeyState: 'Enabled',
      Description: 'made by the SDK',
    })
    const listed = await client.send(new ListAliasesCommand({ KeyId: keyId }))
    expect(listed.Aliases).toEqual([
      {
        AliasName: 'alias/from-sdk',
        AliasArn: 'arn:aws:kms:us-east-1:111122223333:alias/from-sdk',
        TargetKeyId: keyId,
      },
    ])
    expect(kms.keys().find((k) => k.keyId === keyId)?.aliases).toEqual(['alias/from-sdk'])
  })

  it('refuses a duplicate alias with AlreadyExistsException', async () => {
    const error = await rejection(
      kmsClient(kms).send(
        new CreateAliasCommand({ AliasName: 'alias/rdskit-test', TargetKeyId: other.keyId }),
      ),
    )
    expect(error.name).toBe('AlreadyExistsException')
  })

  it('uses the region and account it was started with in every ARN', async () => {
    const tokyo = await startKms({
      region: 'ap-northeast-1',
      accountId: '999988887777',
      aliases: ['alias/jp'],
    })
    try {
      const out = await kmsClient(tokyo).send(
        new EncryptCommand({ KeyId: 'alias/jp', Plaintext: utf8.encode('x') }),
      )
      expect(out.KeyId).toMatch(/^arn:aws:kms:ap-northeast-1:999988887777:key\//)
    } finally {
      await tokyo.stop()
    }
  })
})

describe('startKms speaks the KMS JSON 1.1 protocol on the wire', () => {
  const post = (target: string | undefined, body: string) =>
    fetch(`${kms.url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        ...(target ? { 'x-amz-target': target } : {}),
      },
      body,
    })

  it('answers with application/x-amz-json-1.1 and base64 blobs', async () => {
    const response = await post(
      'TrentService.Encrypt',
      JSON.stringify({ KeyId: key.keyId, Plaintext: 'aGk=' }),
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.1')
    const body = (await response.json()) as { CiphertextBlob: string }
    expect(Buffer.from(body.CiphertextBlob, 'base64').length).toBeGreaterThan(30)
  })

  it('answers errors as {"__type", "message"} with a 4xx status', async () => {
    const unknown = await post('TrentService.ReEncrypt', '{}')
    expect(unknown.status).toBe(400)
    expect(await unknown.json()).toEqual({
      __type: 'UnknownOperationException',
      message: 'The test endpoint does not implement ReEncrypt',
    })
    const inherited = await post('TrentService.constructor', '{}')
    expect(((await inherited.json()) as { __type: string }).__type).toBe('UnknownOperationException')
    const noTarget = await post(undefined, '{}')
    expect(((await noTarget.json()) as { __type: string }).__type).toBe('UnknownOperationException')
    const badJson = await post('TrentService.Encrypt', '{not json')
    expect(badJson.status).toBe(400)
    expect(((await badJson.json()) as { __type: string }).__type).toBe('SerializationException')
    const get = await fetch(`${kms.url}/`)
    expect(get.status).toBe(400)
  })
})

describe('startKms call log', () => {
  it('records operation, resolved key, requested KeyId, context and status, and never the plaintext or ciphertext', async () => {
    kms.clearCalls()
    const blob = await encrypt(text)
    await rejection(
      kmsClient(kms).send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { LambdaFunctionName: 'x' } }),
      ),
    )
    const calls = kms.calls()
    expect(calls).toMatchObject([
      {
        operation: 'Encrypt',
        keyId: key.keyId,
        requestedKeyId: 'alias/rdskit-test',
        encryptionContext: context,
        status: 200,
        errorType: undefined,
      },
      {
        operation: 'Decrypt',
        keyId: key.keyId,
        encryptionContext: { LambdaFunctionName: 'x' },
        status: 400,
        errorType: 'InvalidCiphertextException',
      },
    ])
    expect(calls[1]).not.toHaveProperty('requestedKeyId')
    const logged = JSON.stringify(calls)
    expect(logged).not.toContain(text)
    expect(logged).not.toContain(Buffer.from(text).toString('base64'))
    expect(logged).not.toContain(Buffer.from(blob).toString('base64'))
    kms.clearCalls()
    expect(kms.calls()).toEqual([])
  })
})
