/**
 * `pnpm start`: the real handler on http://127.0.0.1:3000 behind the local API Gateway v2 adapter.
 *
 * With nothing configured it starts a throwaway TLS-only PostgreSQL (verified with its own CA, as the
 * handler verifies RDS) and the KMS test endpoint with a dev key,
 * creates the `app` role with a generated password, encrypts that password with `rdskit-kms encrypt`
 * (the command a user runs against real KMS), applies the migrations with `migrate()` and serves.
 * Ctrl-C stops everything and removes the temporary data.
 *
 *   DATABASE_URL=postgres://user:pass@host:5432/db   use that database (and that user) instead;
 *                                                    ?sslrootcert=/path/ca.pem trusts that CA for verify-full
 *   KMS_KEY_ID=arn:aws:kms:…  (+ AWS credentials)   use real KMS with that key instead
 *   PORT=3000  FUNCTION_NAME=rdskit-sample-api  POWERTOOLS_LOG_LEVEL=INFO   (PORT=0 picks a free port)
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrate } from '@rdskit/rds'
import { type KmsEndpoint, type PostgresCluster, startKms, startPostgres } from '@rdskit/testing'
import { startLocalApi } from '../src/local/adapter.ts'
import { encryptWithCli } from '../src/local/encrypt.ts'
import { appDir } from '../src/local/paths.ts'

const functionName = process.env.FUNCTION_NAME || 'rdskit-sample-api'
const say = (line: string) => process.stderr.write(`[local] ${line}\n`)

/** PORT as a TCP port number (0 picks a free one); anything else ends the run with a one-line reason. */
const portFromEnv = (raw = process.env.PORT || '3000'): number => {
  const port = Number(raw)
  if (/^\d+$/.test(raw) && port <= 65_535) return port
  say(`PORT must be a port number from 0 to 65535 (0 picks a free one); got ${JSON.stringify(raw)}`)
  process.exit(2)
}
const port = portFromEnv()

const portBusy = (port: number) =>
  `port ${port} on 127.0.0.1 is already in use (another sample API still running?): ` +
  `stop that process, or choose another port, e.g. PORT=${port === 3000 ? 3001 : port + 1}`

/**
 * Fails fast on a busy port, before PostgreSQL starts; the real listen below still reports a port taken in
 * between with the same message.
 */
const checkPortFree = (port: number) =>
  new Promise<boolean>((resolve, reject) => {
    if (port === 0) return resolve(true)
    const probe = createServer()
    probe.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
    )
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })

const cleanups: (() => Promise<unknown>)[] = []
let stopping = false
const stop = async (code: number) => {
  if (stopping) return
  stopping = true
  say('stopping…')
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup()
    } catch (error) {
      say(`cleanup failed: ${(error as Error).message}`)
    }
  }
  say('stopped; temporary data removed')
  process.exit(code)
}
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

interface Database {
  host: string
  port: number
  database: string
  user: string
  password: string
  tls: 'verify-full' | 'disable'
  /** PEM file of the CA that signed the server certificate (the throwaway cluster's own CA). */
  caFile?: string
}

const throwawayDatabase = async (): Promise<Database> => {
  // TLS-only, like RDS with rds.force_ssl: the app verifies the certificate and host name (verify-full).
  const cluster: PostgresCluster = await startPostgres({ throwaway: true, tls: true })
  cleanups.push(() => cluster.stop())
  say(`PostgreSQL ${cluster.version} on ${cluster.host}:${cluster.port} (pid ${cluster.pid}, throwaway)`)
  const password = randomBytes(24).toString('base64url')
  await cluster.createRole({ name: 'app', password })
  await cluster.sql.unsafe('create database app owner app')
  const caFile = join(cluster.dir ?? tmpdir(), 'rdskit-local-ca.pem')
  await writeFile(caFile, cluster.ca ?? '')
  return {
    host: cluster.host,
    port: cluster.port,
    database: 'app',
    user: 'app',
    password,
    tls: 'verify-full',
    caFile,
  }
}

const databaseFromUrl = (raw: string): Database => {
  const url = new URL(raw)
  const sslmode = url.searchParams.get('sslmode')
  const caFile = url.searchParams.get('sslrootcert') ?? undefined
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    database: decodeURIComponent(url.pathname.slice(1)) || 'postgres',
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    tls:
      sslmode === 'disable' || (!sslmode && ['127.0.0.1', 'localhost', '::1'].includes(url.hostname))
        ? 'disable'
        : 'verify-full',
    ...(caFile ? { caFile } : {}),
  }
}

const main = async () => {
  if (!(await checkPortFree(port))) {
    say(portBusy(port))
    process.exit(1)
  }
  const db = process.env.DATABASE_URL ? databaseFromUrl(process.env.DATABASE_URL) : await throwawayDatabase()
  if (process.env.DATABASE_URL)
    say(`database ${db.host}:${db.port}/${db.database} as ${db.user} (DATABASE_URL)`)

  let keyId = process.env.KMS_KEY_ID
  let kms: KmsEndpoint | undefined
  if (!keyId) {
    kms = await startKms({ aliases: ['alias/rdskit-dev'] })
    const endpoint = kms
    cleanups.push(() => endpoint.stop())
    keyId = 'alias/rdskit-dev'
    // The SDK in this process (kms-env) and the CLI both talk to the test endpoint with dummy credentials.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KMS: kms.url,
      AWS_REGION: kms.region,
      AWS_ACCESS_KEY_ID: kms.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: kms.credentials.secretAccessKey,
    })
    delete process.env.AWS_SESSION_TOKEN
    delete process.env.AWS_PROFILE
    say(`KMS test endpoint ${kms.url}, dev key ${keyId}`)
  } else {
    say(`real KMS, key ${keyId}`)
  }

  const ciphertext = await encryptWithCli(db.password, {
    keyId,
    functionName,
    ...(kms ? { endpoint: kms.url } : {}),
  })
  say(
    `encrypted the ${db.user} password with rdskit-kms encrypt (context LambdaFunctionName=${functionName})`,
  )

  await migrate({
    config: { host: db.host, port: db.port, database: db.database, username: db.user, password: db.password },
    tls: db.tls === 'disable' ? false : db.caFile ? { ca: await readFile(db.caFile, 'utf8') } : 'verify-full',
    migrationsFolder: join(appDir, 'drizzle'),
  })
  say('migrations applied')

  // The handler reads its configuration at import, as in Lambda INIT.
  Object.assign(process.env, {
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    DB_HOST: db.host,
    DB_PORT: String(db.port),
    DB_NAME: db.database,
    DB_USER: db.user,
    DB_PASSWORD: ciphertext,
    DB_TLS: db.tls,
    ...(db.caFile ? { DB_CA_FILE: db.caFile } : {}),
  })
  const { handler } = await import('../src/handler.ts')
  const api = await startLocalApi({ handler, port, functionName })
  cleanups.push(() => api.close())

  process.stdout.write(
    `\nrdskit sample API listening on ${api.url}\n\n` +
      `  curl -s -X POST ${api.url}/notes -H 'content-type: application/json' \\\n` +
      `       -d '{"title":"Hello","body":"from rdskit","tags":["demo"]}'\n` +
      `  curl -s '${api.url}/notes?limit=10&tag=demo'\n` +
      `  curl -s ${api.url}/health\n\nCtrl-C stops everything.\n\n`,
  )
}

main().catch(async (error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code
  say(code === 'EADDRINUSE' ? portBusy(port) : `failed to start: ${(error as Error).message}`)
  await stop(1)
})
