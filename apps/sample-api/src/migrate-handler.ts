import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { decryptEnv } from '@rdskit/kms-env'
import { migrate } from '@rdskit/rds'
import postgres from 'postgres'
import { scramVerifier } from './db/scram.ts'
import { createLogger, describeError } from './http/log.ts'

/**
 * The deploy-time migration step (a CloudFormation custom resource through the CDK Provider framework).
 * On Create/Update it:
 *  1. decrypts the API function's DB_PASSWORD ciphertext, with the API function's name as encryption
 *     context (its IAM policy allows exactly that context, nothing else);
 *  2. connects as the RDS master user (secret from Secrets Manager) and makes the app role match that
 *     password (sent as a SCRAM verifier, never in plaintext) with rights on the `public` schema;
 *  3. runs `migrate()` from @rdskit/rds as the app role, so the app owns its tables; the advisory lock
 *     inside makes concurrent deploys safe.
 * On Delete it does nothing: dropping data is never a side effect of removing a stack.
 */
const log = createLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'info')

interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete'
  PhysicalResourceId?: string
}

const required = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set on the migrate function; the CDK stack sets it.`)
  return value
}

export const handler = async (event: CustomResourceEvent) => {
  const physicalId = event.PhysicalResourceId ?? 'rdskit-sample-api-migrations'
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalId }

  const host = required('DB_HOST')
  const database = required('DB_NAME')
  const appUser = required('DB_USER')
  const port = Number(process.env.DB_PORT ?? 5432)
  const { appPassword } = await decryptEnv({
    fetchData: { appPassword: 'DB_PASSWORD' },
    encryptionContext: { LambdaFunctionName: required('API_FUNCTION_NAME') },
  })
  if (!appPassword)
    throw new Error('DB_PASSWORD decrypted to an empty value; encrypt the app password again.')

  const secrets = new SecretsManagerClient({})
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: required('MASTER_SECRET_ARN') }))
  const master = JSON.parse(secret.SecretString ?? '{}') as { username?: string; password?: string }
  if (!master.username || !master.password)
    throw new Error('The master secret has no username/password keys.')

  // verify-full: Node trusts the RDS CA through NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem.
  const ssl = { rejectUnauthorized: true, servername: host }
  const admin = postgres({
    host,
    port,
    database,
    username: master.username,
    password: master.password,
    ssl,
    max: 1,
  })
  try {
    const verifier = scramVerifier(appPassword)
    const [exists] = await admin`select 1 from pg_roles where rolname = ${appUser}`
    // Role names and verifiers cannot be bind parameters in DDL: quote them as an identifier / a literal
    // (a verifier is base64, `$` and `:` only).
    const role = `"${appUser.replaceAll('"', '""')}"`
    const db = `"${database.replaceAll('"', '""')}"`
    await admin.unsafe(`${exists ? 'alter' : 'create'} role ${role} with login password '${verifier}'`)
    await admin.unsafe(`grant connect, create on database ${db} to ${role}`)
    await admin.unsafe(`grant usage, create on schema public to ${role}`)
    log.info('app role ready', { role: appUser, created: !exists })
  } finally {
    await admin.end({ timeout: 5 })
  }

  try {
    await migrate({
      config: { host, port, database, username: appUser, password: appPassword, ssl },
      migrationsFolder: new URL('./drizzle', import.meta.url).pathname,
    })
  } catch (error) {
    log.error('migrations failed', describeError(error))
    throw error
  }
  log.info('migrations applied', { database })
  return { PhysicalResourceId: physicalId }
}
