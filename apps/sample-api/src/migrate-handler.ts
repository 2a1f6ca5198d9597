import { Logger } from '@aws-lambda-powertools/logger'
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { decryptEnv } from '@rdskit/kms-env'
import { migrate } from '@rdskit/rds'
import postgres from 'postgres'
import { scramVerifier } from './db/scram.ts'
import { describeError } from './http/describe-error.ts'

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
const log = new Logger({ serviceName: 'rdskit-sample-migrate' })

interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete'
  PhysicalResourceId?: string
}

const required = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set on the migrate function; the CDK stack sets it.`)
  return value
}

export interface MigrationTarget {
  host: string
  port: number
  database: string
  appUser: string
  appPassword: string
  master: { username: string; password: string }
  /** verify-full in AWS (the RDS CA via NODE_EXTRA_CA_CERTS); false only against a local test server. */
  tls: 'verify-full' | false
  migrationsFolder: string
}

/**
 * Makes the app role match `appPassword` (created if missing) with rights on the database and the
 * `public` schema, as the master user; then runs `migrate()` as the app role, so it owns its tables.
 */
export const migrateDatabase = async (
  target: MigrationTarget,
): Promise<{ roleCreated: boolean; applied: number }> => {
  const { host, port, database, appUser } = target
  const admin = postgres({
    host,
    port,
    database,
    username: target.master.username,
    password: target.master.password,
    ssl: target.tls === false ? false : { rejectUnauthorized: true, servername: host },
    max: 1,
    onnotice: () => {},
  })
  let roleCreated = false
  try {
    const verifier = scramVerifier(target.appPassword)
    const [exists] = await admin`select 1 from pg_roles where rolname = ${appUser}`
    roleCreated = !exists
    // Role names and verifiers cannot be bind parameters in DDL: quote them as an identifier / a literal
    // (a verifier is base64, `$` and `:` only).
    const role = `"${appUser.replaceAll('"', '""')}"`
    const db = `"${database.replaceAll('"', '""')}"`
    await admin.unsafe(`${exists ? 'alter' : 'create'} role ${role} with login password '${verifier}'`)
    await admin.unsafe(`grant connect, create on database ${db} to ${role}`)
    await admin.unsafe(`grant usage, create on schema public to ${role}`)
    log.info('app role ready', { role: appUser, created: roleCreated })
  } finally {
    await admin.end({ timeout: 5 })
  }
  try {
    const { applied } = await migrate({
      config: { host, port, database, username: appUser, password: target.appPassword },
      tls: target.tls,
      migrationsFolder: target.migrationsFolder,
    })
    log.info('migrations applied', { database, applied })
    return { roleCreated, applied }
  } catch (error) {
    log.error('migrations failed', describeError(error))
    throw error
  }
}

export const handler = async (event: CustomResourceEvent) => {
  const physicalId = event.PhysicalResourceId ?? 'rdskit-sample-api-migrations'
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalId }

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

  await migrateDatabase({
    host: required('DB_HOST'),
    port: Number(process.env.DB_PORT ?? 5432),
    database: required('DB_NAME'),
    appUser: required('DB_USER'),
    appPassword,
    master: { username: master.username, password: master.password },
    tls: 'verify-full',
    migrationsFolder: new URL('./drizzle', import.meta.url).pathname,
  })
  return { PhysicalResourceId: physicalId }
}
