import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms'
import type { Sql } from 'postgres'
import { connect, routes } from './raw-handler.ts'

/**
 * The raw handler with the Lambda console's encryption-helper pattern instead of a plaintext password:
 * a module-scope KMS client, one Decrypt (with the function-name context) on the first invocation, then
 * the same postgres.js client and queries. The baseline for what KMS itself costs a cold start.
 */
const kms = new KMSClient({})
let sql: Promise<Sql> | undefined

const decryptAndConnect = async () => {
  const { Plaintext } = await kms.send(
    new DecryptCommand({
      CiphertextBlob: Buffer.from(process.env.DB_PASSWORD ?? '', 'base64'),
      EncryptionContext: { LambdaFunctionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? '' },
    }),
  )
  return connect(Buffer.from(Plaintext as Uint8Array).toString('utf8'))
}

export const handler = routes(() => {
  sql ??= decryptAndConnect()
  return sql
})
