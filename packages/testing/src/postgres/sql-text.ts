import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

/** "name" for DDL, which takes no bind parameters. */
export function quoteIdent(name: string, what = 'identifier'): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 63 || name.includes('\0')) {
    throw new TypeError(`${what} must be 1 to 63 characters without NUL; got ${JSON.stringify(String(name))}`)
  }
  return `"${name.replaceAll('"', '""')}"`
}

/** 'text' for DDL; standard_conforming_strings is on everywhere we run, so only quotes need doubling. */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new TypeError('a SQL literal may not contain NUL')
  return `'${value.replaceAll("'", "''")}'`
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password`. Sending the verifier instead of the plaintext in
 * CREATE/ALTER ROLE keeps the password out of the server log if the statement fails and is logged.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16)
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

/** `LOGIN PASSWORD '…' VALID UNTIL '…'`: `validUntil` undefined means the password never expires. */
export function passwordClause(password: string, validUntil: Date | undefined): string {
  if (typeof password !== 'string' || password.length === 0) {
    throw new TypeError('password must be a non-empty string')
  }
  if (validUntil !== undefined && Number.isNaN(validUntil.getTime?.())) {
    throw new TypeError('validUntil must be a valid Date')
  }
  const until = validUntil ? validUntil.toISOString() : 'infinity'
  return `PASSWORD ${quoteLiteral(scramVerifier(password))} VALID UNTIL ${quoteLiteral(until)}`
}
