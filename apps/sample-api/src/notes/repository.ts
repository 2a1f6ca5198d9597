import { and, arrayContains, desc, eq, sql } from 'drizzle-orm'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type * as schema from '../db/schema.ts'
import { type Note, notes } from '../db/schema.ts'
import { uuidv7 } from '../db/uuidv7.ts'
import { encodeCursor } from './cursor.ts'
import type { CreateNote, ListQuery, UpdateNote } from './schemas.ts'

export type Db = PostgresJsDatabase<typeof schema>
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/**
 * The hot statements, built once per drizzle instance (drizzle's query builder costs more CPU than the
 * round trip to a nearby database) and named, so postgres.js also prepares them once per connection.
 * Transactions build their statements per call: a prepared query is bound to the pool, not to `tx`.
 */
const buildStatements = (db: Db) => ({
  findById: db
    .select()
    .from(notes)
    .where(eq(notes.id, sql.placeholder('id')))
    .prepare('notes_find_by_id'),
  insert: db
    .insert(notes)
    .values({
      id: sql.placeholder('id'),
      title: sql.placeholder('title'),
      body: sql.placeholder('body'),
      tags: sql.placeholder('tags'),
      slug: sql.placeholder('slug'),
    })
    .returning()
    .prepare('notes_insert'),
})

const statementsByDb = new WeakMap<Db, ReturnType<typeof buildStatements>>()
const statements = (db: Db) => {
  let built = statementsByDb.get(db)
  if (!built) {
    built = buildStatements(db)
    statementsByDb.set(db, built)
  }
  return built
}

const newNote = (input: CreateNote) => ({
  id: uuidv7(),
  title: input.title,
  body: input.body,
  tags: input.tags,
  slug: input.slug ?? null,
})

export const insertNote = async (db: Db, input: CreateNote): Promise<Note> => {
  const [row] = await statements(db).insert.execute(newNote(input))
  if (!row) throw new Error('INSERT … RETURNING returned no row')
  return row
}

/**
 * The same INSERT inside a transaction: built per call (a built statement is bound to the pool, not to `tx`),
 * named so that postgres.js still prepares it once per connection.
 */
export const insertNoteIn = async (tx: Tx, input: CreateNote): Promise<Note> => {
  const [row] = await tx.insert(notes).values(newNote(input)).returning().prepare('notes_insert_tx').execute()
  if (!row) throw new Error('INSERT … RETURNING returned no row')
  return row
}

export const findNote = async (db: Db, id: string): Promise<Note | undefined> => {
  const [row] = await statements(db).findById.execute({ id })
  return row
}

export interface Page {
  items: Note[]
  nextCursor: string | null
}

/** Newest first, keyset on (created_at, id): one index range scan, no OFFSET. */
export const listNotes = async (db: Db, query: ListQuery): Promise<Page> => {
  const conditions = []
  if (query.tag?.length) conditions.push(arrayContains(notes.tags, query.tag))
  if (query.cursor) {
    conditions.push(
      sql`(${notes.createdAt}, ${notes.id}) < (${query.cursor.createdAt}::timestamptz, ${query.cursor.id}::uuid)`,
    )
  }
  const rows = await db
    .select()
    .from(notes)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(notes.createdAt), desc(notes.id))
    .limit(query.limit + 1)
  const items = rows.slice(0, query.limit)
  const last = items.at(-1)
  return {
    items,
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
  }
}

export type Precondition = { kind: 'any' } | { kind: 'version'; version: number }

export type WriteOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'not-found' }
  | { ok: false; reason: 'version-mismatch'; current: number }

type Refusal = Extract<WriteOutcome<never>, { ok: false }>

/** Locks the note (FOR UPDATE) and checks the precondition; a refusal, or undefined to go ahead. */
const lockAndCheck = async (tx: Tx, id: string, expected: Precondition): Promise<Refusal | undefined> => {
  const [current] = await tx
    .select({ version: notes.version })
    .from(notes)
    .where(eq(notes.id, id))
    .for('update')
  if (!current) return { ok: false, reason: 'not-found' }
  if (expected.kind === 'version' && expected.version !== current.version) {
    return { ok: false, reason: 'version-mismatch', current: current.version }
  }
  return undefined
}

/**
 * Read-check-write in one transaction: the row is locked while its version is compared, so two PATCHes
 * with the same If-Match cannot both win, and a failed UPDATE (a taken slug) leaves nothing behind.
 */
export const updateNote = (db: Db, id: string, expected: Precondition, patch: UpdateNote) =>
  db.transaction(async (tx): Promise<WriteOutcome<Note>> => {
    const refusal = await lockAndCheck(tx, id, expected)
    if (refusal) return refusal
    const [row] = await tx
      .update(notes)
      .set({ ...patch, version: sql`${notes.version} + 1`, updatedAt: sql`now()` })
      .where(eq(notes.id, id))
      .returning()
    if (!row) throw new Error('UPDATE … RETURNING returned no row for a locked note')
    return { ok: true, value: row }
  })

export const deleteNote = (db: Db, id: string, expected: Precondition) =>
  db.transaction(async (tx): Promise<WriteOutcome<null>> => {
    const refusal = await lockAndCheck(tx, id, expected)
    if (refusal) return refusal
    await tx.delete(notes).where(eq(notes.id, id))
    return { ok: true, value: null }
  })
