import type { KmsEndpoint, StartKmsOptions } from './types.ts'

// Placeholder: the implementation lands in a following commit.
export async function startKms(_options?: StartKmsOptions): Promise<KmsEndpoint> {
  throw new Error('startKms is not implemented yet')
}
