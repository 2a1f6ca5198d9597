import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { mockClient } from 'aws-sdk-client-mock'

export const utf8 = new TextEncoder()

export { lambdaContext } from './lambda-context.ts'

/**
 * A fake "ciphertext" for mocked KMS: base64 of `ct:` + name. The mock decrypts it back to the plaintext
 * registered for that name, so a test can tell which variable a Decrypt call was for.
 */
export const fakeCiphertext = (name: string) => Buffer.from(`ct:${name}`).toString('base64')

export function nameOf(blob: Uint8Array | undefined): string {
  return Buffer.from(blob ?? new Uint8Array())
    .toString()
    .replace(/^ct:/, '')
}

/** How many mocked Decrypts ran at once, at most. */
export const concurrency = { inFlight: 0, max: 0 }

/** Mocks KMSClient: Decrypt answers `plaintexts[name]`, after `delay` ms. */
export function mockKms(plaintexts: Record<string, string>, delay = 0) {
  const kms = mockClient(KMSClient)
  concurrency.max = 0
  kms.on(DecryptCommand).callsFake(async (input: { CiphertextBlob?: Uint8Array }) => {
    concurrency.max = Math.max(concurrency.max, ++concurrency.inFlight)
    try {
      if (delay) await new Promise((resolve) => setTimeout(resolve, delay))
    } finally {
      concurrency.inFlight--
    }
    const name = nameOf(input.CiphertextBlob)
    const plaintext = plaintexts[name]
    if (plaintext === undefined)
      throw Object.assign(new Error('The ciphertext is invalid.'), { name: 'InvalidCiphertextException' })
    return { Plaintext: utf8.encode(plaintext), KeyId: 'arn:aws:kms:us-east-1:111122223333:key/k' }
  })
  return kms
}

/** Sets environment variables for one test and returns the undo. */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
  apply(vars)
  return () => apply(before)
}

/** The rejection of a promise (or a throwing function), failing the test when it succeeds. */
export async function rejection(
  run: Promise<unknown> | (() => unknown),
): Promise<Error & Record<string, unknown>> {
  try {
    await (typeof run === 'function' ? run() : run)
  } catch (error) {
    return error as Error & Record<string, unknown>
  }
  throw new Error('expected a failure, but it succeeded')
}
