import { createHash } from 'node:crypto'
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda'
import { and, eq, inArray, lt, ne, sql } from 'drizzle-orm'
import { idempotencyKeys } from '../db/schema.ts'
import { ProblemError } from '../http/problem.ts'
import type { Db, Tx } from './repository.ts'

/**
 * `Idempotency-Key` for `POST /notes`: the key, a hash of the request and the response are written in the
 * same transaction as the note, so a client that lost the answer (a timeout, a dropped connection, a 503
 * `write-outcome-unknown`) retries with the same key and gets the original 201 instead of a second note.
 */
export const idempotency = {
  /** The request header (lower case: @middy/http-header-normalizer has run). */
  header: 'idempotency-key',
  /** Set to `true` on a response replayed from a stored one. */
  replayedHeader: 'Idempotent-Replayed',
  /** A key older than this is forgotten: the same key then starts a new request. */
  lifetimeHours: 24,
  /** Expired rows deleted by each keyed request, oldest first, at most. */
  purgeBatch: 100,
  /** Response headers stored and replayed with the status and body. */
  replayedHeaders: ['Content-Type', 'Location', 'ETag'],
} as const

export type Response = APIGatewayProxyStructuredResultV2

// Keys are global to the API (no per-user scope here), so a short key would collide with another client's:
// at least 8 characters. The set covers UUIDs, ULIDs, base64 and base64url without needing any escaping.
const keyPattern = /^[A-Za-z0-9_.:~+/=-]{8,255}$/

const badKey = (detail: string) =>
  new ProblemError(
    400,
    'bad-request',
    'Bad request',
    `Idempotency-Key ${detail}; send a fresh random value (a UUID) per new note, and the same value when retrying it.`,
    {
      errors: [
        {
          field: 'header.idempotency-key',
          detail: `${detail}: 8 to 255 letters, digits or - _ . : ~ + / =`,
        },
      ],
    },
  )

/**
 * The key from the header, or undefined when none was sent. A structured-field string (`"…"`, as the IETF
 * draft writes it) is unquoted; anything outside the allowed set, too short or too long answers 400 naming
 * the header. API Gateway joins a repeated header with commas, which the set excludes.
 */
export const parseIdempotencyKey = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const trimmed = header.trim()
  const value =
    trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1) : trimmed
  if (value.length === 0) throw badKey('is empty')
  if (value.length < 8) throw badKey(`is ${value.length} characters long`)
  if (value.length > 255) throw badKey(`is ${value.length} characters long`)
  if (!keyPattern.test(value)) throw badKey('holds a character outside the allowed set')
  return value
}

/** JSON with object keys sorted at every level: equal values give equal text, whatever the key order. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/**
 * SHA-256 of method, path and the body as validated (defaults filled in, title trimmed, tags deduplicated):
 * two bodies that would create the same note are the same request; any other difference is not.
 */
export const requestHash = (method: string, path: string, body: unknown): string =>
  createHash('sha256')
    .update(`${method.toUpperCase()}\n${path}\n${canonicalJson(body)}`)
    .digest('hex')

const reused = () =>
  new ProblemError(
    422,
    'idempotency-key-reused',
    'Idempotency key reused',
    `This Idempotency-Key was sent with a different request within the last ${idempotency.lifetimeHours} hours; use a new key for a new note.`,
    {
      errors: [{ field: 'header.idempotency-key', detail: 'was already used for a different request body' }],
    },
  )

type Claim = { claimed: true } | { claimed: false; requestHash: string; response: Response }

/** Rows older than the lifetime (a constant of this module, not user input). */
const expiredBefore = sql.raw(`now() - interval '${idempotency.lifetimeHours} hours'`)

/**
 * One statement, prepared once per connection (named: planning it costs more than running it):
 * - its CTE deletes a batch of expired keys other than `key`, oldest first through the `created_at` index,
 *   SKIP LOCKED so it never waits on a request in progress: the table stays small without a scheduled job;
 * - its INSERT is the lock: while another transaction holds an uncommitted row for the same key, PostgreSQL
 *   makes this one wait on the primary key until that one commits (nothing is returned: its response is
 *   replayed) or rolls back (this one inserts). An expired row is taken over in place.
 */
const insertKey = (tx: Tx, key: string, hash: string) => {
  const expired = tx
    .select({ key: idempotencyKeys.key })
    .from(idempotencyKeys)
    .where(and(lt(idempotencyKeys.createdAt, expiredBefore), ne(idempotencyKeys.key, sql.placeholder('key'))))
    .orderBy(idempotencyKeys.createdAt)
    .limit(idempotency.purgeBatch)
    .for('update', { skipLocked: true })
  const purged = tx
    .$with('purged')
    .as(
      tx
        .delete(idempotencyKeys)
        .where(inArray(idempotencyKeys.key, expired))
        .returning({ key: idempotencyKeys.key }),
    )
  return tx
    .with(purged)
    .insert(idempotencyKeys)
    .values({ key: sql.placeholder('key'), requestHash: sql.placeholder('hash') })
    .onConflictDoUpdate({
      target: idempotencyKeys.key,
      set: {
        requestHash: sql`excluded.request_hash`,
        status: null,
        headers: null,
        body: null,
        createdAt: sql`now()`,
      },
      setWhere: lt(idempotencyKeys.createdAt, expiredBefore),
    })
    .returning({ key: idempotencyKeys.key })
    .prepare('idempotency_claim')
    .execute({ key, hash })
}

/** Takes the key for this transaction, or reads the response stored under it. */
const claim = async (tx: Tx, key: string, hash: string): Promise<Claim> => {
  if ((await insertKey(tx, key, hash)).length > 0) return { claimed: true }
  const [row] = await tx
    .select()
    .from(idempotencyKeys)
    .where(eq(idempotencyKeys.key, sql.placeholder('key')))
    .prepare('idempotency_find')
    .execute({ key })
  if (!row || row.status === null || row.body === null) {
    // Unreachable: a row is visible only once committed, and it commits with its response.
    throw new Error('an idempotency key row without a stored response')
  }
  return {
    claimed: false,
    requestHash: row.requestHash,
    response: { statusCode: row.status, headers: row.headers ?? {}, body: row.body },
  }
}

const storable = (response: Response) => {
  const headers: Record<string, string> = {}
  for (const name of idempotency.replayedHeaders) {
    const value = response.headers?.[name]
    if (value !== undefined) headers[name] = String(value)
  }
  return { status: response.statusCode ?? 200, headers, body: response.body ?? '' }
}

/**
 * Runs `write` at most once per key: in one transaction, claims the key, runs `write`, stores its response.
 * A retry with the same request replays that response (plus `Idempotent-Replayed: true`); the same key
 * with another request answers 422. An error inside `write` rolls the key back with the note, so a failed
 * request (409, 503…) leaves nothing behind and may be retried with the same key.
 */
export const withIdempotencyKey = async (
  db: Db,
  request: { key: string; hash: string },
  write: (tx: Tx) => Promise<Response>,
): Promise<Response> => {
  const outcome = await db.transaction(async (tx) => {
    const found = await claim(tx, request.key, request.hash)
    if (!found.claimed) return found
    const response = await write(tx)
    await tx
      .update(idempotencyKeys)
      .set(storable(response))
      .where(eq(idempotencyKeys.key, request.key))
      .prepare('idempotency_store')
      .execute()
    return { claimed: true as const, response }
  })
  if (outcome.claimed) return outcome.response
  if (outcome.requestHash !== request.hash) throw reused()
  return {
    ...outcome.response,
    headers: { ...outcome.response.headers, [idempotency.replayedHeader]: 'true' },
  }
}
