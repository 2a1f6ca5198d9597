import { sql } from 'drizzle-orm'
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { uuidv7 } from './uuidv7.ts'

/**
 * Timestamps keep millisecond precision (`precision: 3`) so that a JavaScript `Date` round-trips exactly:
 * the list cursor carries `created_at`, and a microsecond lost there would skip or repeat rows.
 */
const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
}

export const notes = pgTable(
  'notes',
  {
    /** UUIDv7 from the app (time-ordered: the tie-break of the list order); random when inserted by SQL. */
    id: uuid('id').primaryKey().defaultRandom().$defaultFn(uuidv7),
    /** Optional client-chosen handle, unique when present: the source of 409 Conflict. */
    slug: text('slug'),
    title: text('title').notNull(),
    body: text('body').notNull().default(''),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    /** Bumped on every update; clients send it back in `If-Match` (optimistic concurrency). */
    version: integer('version').notNull().default(1),
    ...timestamps,
  },
  (t) => [
    // Keyset pagination walks (created_at, id) newest first: a backward scan of this index, no sort.
    index('notes_created_at_id_idx').on(t.createdAt, t.id),
    // `tags @> ARRAY[$tag]` filter.
    index('notes_tags_gin_idx').using('gin', t.tags),
    uniqueIndex('notes_slug_key').on(t.slug),
  ],
)

export type Note = typeof notes.$inferSelect
export type NewNote = typeof notes.$inferInsert

/**
 * One row per `Idempotency-Key` a client sent with `POST /notes`, written in the same transaction as the
 * note, so a retry after a lost answer replays the stored response instead of writing a second note.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    key: text('key').primaryKey(),
    /** SHA-256 (hex) of method, path and canonical body: the same key with another request answers 422. */
    requestHash: text('request_hash').notNull(),
    // The stored response. Null only inside the transaction that claimed the key: it writes the note and
    // fills these before it commits, so no other session ever sees a key without its response.
    status: integer('status'),
    /** The response headers worth replaying (Location, ETag, Content-Type). */
    headers: jsonb('headers').$type<Record<string, string>>(),
    body: text('body'),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  // Expiry and purge walk the oldest rows first.
  (t) => [index('idempotency_keys_created_at_idx').on(t.createdAt)],
)

export type IdempotencyKey = typeof idempotencyKeys.$inferSelect
