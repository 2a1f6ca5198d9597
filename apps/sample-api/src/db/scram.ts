import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

/**
 * A PostgreSQL SCRAM-SHA-256 verifier for `CREATE/ALTER ROLE … PASSWORD '<verifier>'`. Sending the
 * verifier instead of the password keeps the plaintext out of the server log, pg_stat_activity and
 * any statement-logging extension, while the role still logs in with the password.
 */
export const scramVerifier = (password: string, iterations = 4096, salt = randomBytes(16)): string => {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}
