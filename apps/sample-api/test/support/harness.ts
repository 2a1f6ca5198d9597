import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { close as closeRdsClients, migrate } from '@rdskit/rds'
import { type KmsEndpoint, startKms, type TestDatabase } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda'
import { inject } from 'vitest'
import { type AppHandler, type AppOptions, createApp } from '../../src/app.ts'
import type { AppConfig } from '../../src/config.ts'
import { lambdaContext, toEventV2 } from '../../src/local/events.ts'
import { appDir } from '../../src/local/paths.ts'
import { capturedObservability } from './log-capture.ts'

export const functionName = 'rdskit-sample-api-test'
export const migrationsFolder = join(appDir, 'drizzle')

export interface Reply {
  status: number
  headers: Record<string, string>
  body: string
  json: Record<string, unknown> & { errors?: { field: string; detail: string }[] }
}

export interface RequestInit {
  body?: unknown
  /** Sent as-is when a string (malformed JSON tests), JSON-encoded otherwise. */
  headers?: Record<string, string>
}

/** Builds the payload 2.0 event the way API Gateway (and the local adapter) does, then invokes. */
export const invoker =
  (handler: AppHandler, timeoutMs = 15_000) =>
  async (method: string, url: string, init: RequestInit = {}): Promise<Reply> => {
    const hasBody = init.body !== undefined
    const raw = typeof init.body === 'string' ? init.body : JSON.stringify(init.body)
    const headers = {
      host: 'api.example.test',
      'user-agent': 'vitest',
      ...(hasBody ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    }
    const event: APIGatewayProxyEventV2 = toEventV2(
      {
        method,
        url,
        headers,
        body: hasBody ? Buffer.from(raw, 'utf8') : Buffer.alloc(0),
        sourceIp: '203.0.113.9',
      },
      { accountId: '123456789012', apiId: 'test', stage: '$default' },
    )
    const context = lambdaContext({
      functionName,
      region: 'us-east-1',
      accountId: '123456789012',
      memoryLimitInMB: 1024,
      timeoutMs,
    })
    const result = (await handler(event, context)) as APIGatewayProxyStructuredResultV2
    const body = result.body ?? ''
    let json: Reply['json'] = {}
    try {
      json = body ? JSON.parse(body) : {}
    } catch {}
    const lower: Record<string, string> = {}
    for (const [k, v] of Object.entries(result.headers ?? {})) lower[k.toLowerCase()] = String(v)
    return { status: result.statusCode ?? 200, headers: lower, body, json }
  }

export interface AppUnderTest {
  invoke: ReturnType<typeof invoker>
  handler: AppHandler
  database: TestDatabase
  kms: KmsEndpoint
  /** The app role's plaintext password and its ciphertext: tests check neither leaks. */
  password: string
  ciphertext: string
  /** Every Powertools line of this app (log lines and EMF documents), as written. */
  logs: string[]
  /** The log lines, parsed. */
  logRecords: () => Array<Record<string, unknown>>
  /** The EMF documents, parsed. */
  metricDocuments: () => Array<Record<string, unknown>>
  /** Notes table row count, read as the admin. */
  count(): Promise<number>
  /** Another warm container of the same function: its own createApp, rds client and connection. */
  container(): ReturnType<typeof invoker>
  /** Stops the app's event subscription and the process's rds clients (this app's among them), then the capture. */
  close(): Promise<void>
}

export interface StartAppOptions {
  /** A database on another cluster (503 tests); default: a fresh one on the run-wide cluster. */
  database?: TestDatabase
  postgresOptions?: Record<string, unknown>
  config?: Partial<AppConfig>
  /**
   * The TLS-only cluster's CA: migrations and the app connect with verify-full against it. Default: the
   * run-wide cluster's CA when `database` is not given; `false` connects without TLS (plain TCP as the subject).
   */
  tlsCa?: string | false
  /** The CA the app trusts, when it should differ from the cluster's (a wrong-CA test). */
  appCa?: string
  /** The Lambda timeout the invocations get (their remaining-time budget). */
  timeoutMs?: number
}

let sequence = 0

/** The run-wide cluster's CA (it is TLS-only, as RDS with rds.force_ssl); undefined for an external server. */
export const sharedCa = (): string | undefined => inject('rdskitPostgres')?.ca

export interface Provisioned {
  database: TestDatabase
  role: string
  password: string
  kms: KmsEndpoint
  ciphertext: string
}

/**
 * A database with its own non-superuser owner role, the migrations applied by `migrate()` as that role,
 * and the KMS test endpoint holding the role's password ciphertext (encryption context = function name).
 */
export const provision = async (
  database?: TestDatabase,
  ca: string | undefined = database ? undefined : sharedCa(),
): Promise<Provisioned> => {
  const db = database ?? (await sharedPostgres.testDatabase())
  const role = `app_${randomBytes(4).toString('hex')}`
  const password = randomBytes(18).toString('base64url')
  await db.sql.unsafe(`create role ${role} login password '${password}'`)
  await db.sql.unsafe(`alter database "${db.database}" owner to ${role}`)
  await db.sql.unsafe(`grant all on schema public to ${role}`)

  const config = { host: db.host, port: db.port, database: db.database, username: role, password }
  await migrate({ config, tls: ca ? { ca } : false, migrationsFolder })

  const kms = await startKms({ aliases: ['alias/rdskit-test'] })
  const client = new KMSClient({ endpoint: kms.url, region: kms.region, credentials: kms.credentials })
  const encrypted = await client.send(
    new EncryptCommand({
      KeyId: 'alias/rdskit-test',
      Plaintext: Buffer.from(password),
      EncryptionContext: { LambdaFunctionName: functionName },
    }),
  )
  client.destroy()
  const ciphertext = Buffer.from(encrypted.CiphertextBlob as Uint8Array).toString('base64')
  return { database: db, role, password, kms, ciphertext }
}

/** The real app stack (kms-env + rds + routes) on a provisioned database, as in Lambda. */
export const startApp = async (options: StartAppOptions = {}): Promise<AppUnderTest> => {
  const tlsCa =
    options.tlsCa === false ? undefined : (options.tlsCa ?? (options.database ? undefined : sharedCa()))
  const { database, role, password, kms, ciphertext } = await provision(options.database, tlsCa)
  const passwordEnvVar = `TEST_DB_PASSWORD_${++sequence}_${randomBytes(3).toString('hex')}`
  process.env[passwordEnvVar] = ciphertext
  process.env.AWS_LAMBDA_FUNCTION_NAME = functionName

  const observed = capturedObservability()
  const closed = new AbortController()
  const appConfig: AppConfig = {
    db: {
      host: database.host,
      port: database.port,
      database: database.database,
      username: role,
      tls: tlsCa ? 'verify-full' : 'disable',
      ...((options.appCa ?? tlsCa) ? { ca: options.appCa ?? tlsCa } : {}),
    },
    passwordEnvVar,
    corsOrigins: ['*'],
    maxBodyBytes: 64 * 1024,
    ...options.config,
  }
  const appOptions: AppOptions = {
    config: appConfig,
    observability: { logger: observed.logger, metrics: observed.metricsInstance },
    kmsClientOptions: { endpoint: kms.url, region: kms.region, credentials: kms.credentials },
    cacheKey: passwordEnvVar,
    signal: closed.signal,
    ...(options.postgresOptions ? { postgresOptions: options.postgresOptions } : {}),
  }
  const handler = createApp(appOptions)
  return {
    invoke: invoker(handler, options.timeoutMs),
    handler,
    database,
    kms,
    password,
    ciphertext,
    logs: observed.lines,
    logRecords: observed.logs,
    metricDocuments: observed.metrics,
    count: async () => {
      const [row] = await database.sql`select count(*)::int as n from notes`
      return (row as { n: number }).n
    },
    container: () =>
      invoker(createApp({ ...appOptions, cacheKey: `${passwordEnvVar}:${++sequence}` }), options.timeoutMs),
    close: async () => {
      // Before the capture stops: a subscription left behind logs and counts every later database event
      // (another app's, or this app's session ended by the database's teardown) on the run's own stdout.
      closed.abort()
      await closeRdsClients()
      delete process.env[passwordEnvVar]
      observed.stop()
      await kms.stop()
    },
  }
}

/** Creates a note and returns its JSON, failing loudly on anything but 201. */
export const createNote = async (app: AppUnderTest, body: Record<string, unknown>) => {
  const reply = await app.invoke('POST', '/notes', { body })
  if (reply.status !== 201) throw new Error(`POST /notes answered ${reply.status}: ${reply.body}`)
  return reply.json as { id: string; version: number; createdAt: string; title: string; tags: string[] }
}

/** The app role: the owner of the test database. */
export const roleOf = async (app: AppUnderTest) => {
  const [row] = await app.database.sql<{ owner: string }[]>`
    select pg_get_userbyid(datdba) as owner from pg_database where datname = current_database()`
  return row?.owner as string
}
