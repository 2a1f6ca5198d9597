/**
 * Opaque list cursor: the (created_at, id) of the last note on a page, base64url-encoded. Keyset
 * pagination on that pair is stable while notes are inserted: new notes sort before the cursor, so a
 * walk through older pages never repeats or skips a note.
 */
export interface Cursor {
  createdAt: string
  id: string
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const isoPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

export const encodeCursor = (createdAt: Date, id: string): string =>
  Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url')

/** The cursor, or undefined when it was not made by `encodeCursor` (tampered, truncated). */
export const decodeCursor = (raw: string): Cursor | undefined => {
  if (raw.length > 200 || !/^[A-Za-z0-9_-]+$/.test(raw)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
    if (!Array.isArray(value) || value.length !== 2) return undefined
    const [createdAt, id] = value
    if (typeof createdAt !== 'string' || typeof id !== 'string') return undefined
    if (!isoPattern.test(createdAt) || Number.isNaN(Date.parse(createdAt)) || !uuidPattern.test(id)) {
      return undefined
    }
    return { createdAt, id }
  } catch {
    return undefined
  }
}
