/**
 * What every benchmark needs: a throwaway PostgreSQL with the app role and the migrations, the KMS test
 * endpoint with the password's ciphertext (function-name context, as `rdskit-kms encrypt` makes it), one
 * seeded note, and the Lambda-like environment both subjects read.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { migrate } from '@rdskit/rds'
import { startKms, startPostgres } from '@rdskit/testing'
import { appDir } from '../src/local/paths.ts'

export const functionName = 'rdskit-bench'

export interface BenchSetup {
  /** The environment of a deployed function (plus DB_PASSWORD_PLAINTEXT for the raw baseline). */
  env: Record<string, string>
  config: { host: string; port: number; database: string; username: string; password: string }
  /** PEM of the CA that signed the database's certificate (also in the file DB_CA_FILE names). */
  ca: string
  kms: { url: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } }
  /** Id of a note that exists. */
  seed: string
  stop(): Promise<void>
}

/**
 * The database speaks TLS only and both subjects verify it (verify-full with the cluster's CA in
 * DB_CA_FILE), as the deployed function does: a benchmark without TLS would measure a configuration
 * nobody should run.
 */
export const setup = async (): Promise<BenchSetup> => {
  const cluster = await startPostgres({ throwaway: true, tls: true })
  const caDir = mkdtempSync(join(tmpdir(), 'rdskit-bench-ca-'))
  const caFile = join(caDir, 'ca.pem')
  const ssl = { ca: cluster.ca as string }
  writeFileSync(caFile, ssl.ca)
  const kms = await startKms({ aliases: ['alias/rdskit-bench'] })
  const password = randomBytes(18).toString('base64url')
  await cluster.createRole({ name: 'app', password })
  await cluster.sql.unsafe('create database app owner app')
  const config = { host: cluster.host, port: cluster.port, database: 'app', username: 'app', password }
  await migrate({ config, tls: ssl, migrationsFolder: join(appDir, 'drizzle') })
  const client = new KMSClient({ endpoint: kms.url, region: kms.region, credentials: kms.credentials })
  const { CiphertextBlob } = await client.send(
    new EncryptCommand({
      KeyId: 'alias/rdskit-bench',
      Plaintext: Buffer.from(password),
      EncryptionContext: { LambdaFunctionName: functionName },
    }),
  )
  client.destroy()
  const appSql = (await import('postgres')).default({ ...config, ssl, max: 1 })
  const [row] =
    await appSql`insert into notes (title, body, tags) values ('bench', 'body', '{a,b}') returning id`
  await appSql.end()

  const env: Record<string, string> = {
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_REGION: kms.region,
    AWS_ACCESS_KEY_ID: kms.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: kms.credentials.secretAccessKey,
    AWS_ENDPOINT_URL_KMS: kms.url,
    DB_HOST: cluster.host,
    DB_PORT: String(cluster.port),
    DB_NAME: 'app',
    DB_USER: 'app',
    DB_PASSWORD: Buffer.from(CiphertextBlob as Uint8Array).toString('base64'),
    DB_PASSWORD_PLAINTEXT: password,
    DB_TLS: 'verify-full',
    DB_CA_FILE: caFile,
    POWERTOOLS_LOG_LEVEL: 'INFO',
    NODE_NO_WARNINGS: '1',
  }
  return {
    env,
    config,
    ca: ssl.ca,
    kms: { url: kms.url, region: kms.region, credentials: kms.credentials },
    seed: row?.id as string,
    stop: async () => {
      await kms.stop()
      await cluster.stop()
      rmSync(caDir, { recursive: true, force: true })
    },
  }
}
