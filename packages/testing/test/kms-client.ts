import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import type { KmsEndpoint } from '../src/kms/types.ts'

/** The real SDK client pointed at a test endpoint. */
export function kmsClient(kms: KmsEndpoint, config: KMSClientConfig = {}): KMSClient {
  return new KMSClient({ endpoint: kms.url, region: kms.region, credentials: kms.credentials, ...config })
}

/** The rejection of a promise, failing when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise
  } catch (error) {
    return error as Error & Record<string, unknown>
  }
  throw new Error('expected the call to fail, but it succeeded')
}
