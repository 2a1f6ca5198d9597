import { readFileSync } from 'node:fs'

/** Everything the handler reads from its environment, parsed once at INIT. */
export interface AppConfig {
  db: {
    host: string
    port: number
    database: string
    username: string
    /** `verify-full` (default: the certificate chain and host name are checked) or `disable` (local only). */
    tls: 'verify-full' | 'disable'
    /**
     * PEM of the CA to trust for verify-full, read from DB_CA_FILE; default: rds's own choice (in Lambda the
     * runtime's RDS CA bundle plus Node's store).
     */
    ca?: string
    /** A reader endpoint (DB_READER_HOST, same port and credentials): reads go there, writes to `host`. */
    readerHost?: string
  }
  /** Name of the environment variable holding the KMS ciphertext of the database password. */
  passwordEnvVar: string
  /** `Access-Control-Allow-Origin` values; `*` for any. */
  corsOrigins: string[]
  /** Largest request body accepted, in bytes (decoded); bigger answers 413. */
  maxBodyBytes: number
}

export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
  constructor(variable: string, problem: string, hint: string) {
    super(`${variable} ${problem}. ${hint}`)
    this.name = 'ConfigError'
  }
}

const integer = (
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number => {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `is ${JSON.stringify(raw)}`, `Set an integer between ${min} and ${max}.`)
  }
  return value
}

const readCa = (path: string): string => {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(
      'DB_CA_FILE',
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`,
      'Point it at a PEM file holding the CA that signed the database certificate, or unset it.',
    )
  }
}

/** Reads the configuration; a missing or malformed variable throws naming it (never echoing a secret). */
export const configFromEnv = (env: NodeJS.ProcessEnv = process.env): AppConfig => {
  const host = env.DB_HOST
  if (!host) throw new ConfigError('DB_HOST', 'is not set', 'Set it to the database endpoint host name.')
  if (!env.DB_PASSWORD) {
    throw new ConfigError(
      'DB_PASSWORD',
      'is not set',
      'Set it to the base64 ciphertext printed by `rdskit-kms encrypt --key-id <key> --function-name <function>`.',
    )
  }
  const tls = env.DB_TLS ?? 'verify-full'
  if (tls !== 'verify-full' && tls !== 'disable') {
    throw new ConfigError('DB_TLS', `is ${JSON.stringify(tls)}`, "Use 'verify-full' (default) or 'disable'.")
  }
  const ca = env.DB_CA_FILE ? readCa(env.DB_CA_FILE) : undefined
  return {
    db: {
      host,
      port: integer(env, 'DB_PORT', 5432, 1, 65535),
      database: env.DB_NAME || 'app',
      username: env.DB_USER || 'app',
      tls,
      ...(ca ? { ca } : {}),
      ...(env.DB_READER_HOST ? { readerHost: env.DB_READER_HOST } : {}),
    },
    passwordEnvVar: 'DB_PASSWORD',
    corsOrigins: (env.CORS_ORIGINS || '*')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 64 * 1024, 1024, 6 * 1024 * 1024),
  }
}
