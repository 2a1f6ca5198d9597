import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import tls from 'node:tls'
import type { TlsOption } from './options.ts'

/** Where the Lambda Node.js runtimes keep the RDS CA bundle (also named by NODE_EXTRA_CA_CERTS there). */
export const lambdaCaBundlePath = '/var/runtime/ca-cert.pem'

export type ResolvedTls = false | tls.ConnectionOptions

interface TlsEnvironment {
  env: NodeJS.ProcessEnv
  readFile: (path: string) => string
  warn: (message: string) => void
}

function defaultStore(): string[] {
  const get = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates
  if (!get) return [...tls.rootCertificates]
  const seen = new Set<string>()
  for (const type of ['default', 'system']) {
    try {
      for (const cert of get(type)) seen.add(cert)
    } catch {}
  }
  return [...seen]
}

/**
 * Turns the `tls` option into node:tls connection options. Verification (chain and host name) is on unless
 * the user wrote `'require'` or `false`; both are reported through `warn`.
 */
export function resolveTls(
  option: TlsOption,
  host: string,
  {
    env = process.env,
    readFile = (p) => readFileSync(p, 'utf8'),
    warn = console.warn,
  }: Partial<TlsEnvironment> = {},
): ResolvedTls {
  const sni = isIP(host) ? undefined : host
  if (option === false) {
    warn(`@rdskit/rds: tls: false — the connection to ${host} is not encrypted, password included`)
    return false
  }
  if (option === 'require') {
    warn(
      `@rdskit/rds: tls: 'require' — the connection to ${host} is encrypted but the server certificate is not verified (a man in the middle can read the password); use 'verify-full'`,
    )
    return { rejectUnauthorized: false, host, ...(sni ? { servername: sni } : {}) }
  }
  const explicit = typeof option === 'object' ? option : {}
  const servername = explicit.servername ?? sni
  const base: tls.ConnectionOptions = {
    rejectUnauthorized: true,
    host: explicit.servername ?? host,
    ...(servername ? { servername } : {}),
  }
  if (explicit.ca !== undefined) return { ...base, ca: explicit.ca }
  if (env.AWS_LAMBDA_FUNCTION_NAME) {
    let bundle: string | undefined
    try {
      bundle = readFile(lambdaCaBundlePath)
    } catch {
      warn(
        `@rdskit/rds: ${lambdaCaBundlePath} is missing; verifying ${host} against the default CA store only`,
      )
    }
    if (bundle) return { ...base, ca: [...defaultStore(), bundle] }
  }
  return base
}
