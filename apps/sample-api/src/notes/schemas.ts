import * as v from 'valibot'
import { characters } from '../http/messages.ts'
import { type Cursor, decodeCursor } from './cursor.ts'

/** PostgreSQL `text` cannot hold NUL: reject it here rather than fail in the database. */
const noNul = v.check<string, string>((s) => !s.includes('\u0000'), 'must not contain the NUL character')

export const limits = { title: 200, body: 10_000, tags: 20, tag: 40, slug: 100, pageSize: 100 } as const

/** At most `max` characters (code points, so an emoji counts once, as it does in PostgreSQL). */
const maxCharacters = (max: number) =>
  v.check<string, string>((s) => characters(s) <= max, `must be at most ${max} characters`)

const title = v.pipe(
  v.string(),
  noNul,
  v.trim(),
  v.minLength(1, 'must not be empty'),
  maxCharacters(limits.title),
)
const body = v.pipe(v.string(), noNul, maxCharacters(limits.body))
const tag = v.pipe(
  v.string(),
  v.regex(
    /^[\p{L}\p{N}][\p{L}\p{N}_.:/-]*$/u,
    'must start with a letter or digit and hold no spaces or commas',
  ),
  maxCharacters(limits.tag),
)
const tags = v.pipe(
  v.array(tag),
  v.maxLength(limits.tags, `must hold at most ${limits.tags} tags`),
  v.transform((list) => [...new Set(list)]),
)
const slug = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be lowercase letters and digits separated by single hyphens'),
  v.maxLength(limits.slug, `must be at most ${limits.slug} characters`),
)

export const createNoteBody = v.strictObject({
  title,
  body: v.optional(body, ''),
  tags: v.optional(tags, []),
  slug: v.optional(v.nullable(slug)),
})

export const updateNoteBody = v.pipe(
  v.strictObject({
    title: v.optional(title),
    body: v.optional(body),
    tags: v.optional(tags),
    slug: v.optional(v.nullable(slug)),
  }),
  v.check((patch) => Object.keys(patch).length > 0, 'must change at least one of title, body, tags, slug'),
)

export const noteIdPath = v.strictObject({
  id: v.pipe(v.string(), v.uuid('must be a UUID such as 3f0c9b1e-6a4e-4f7e-9c1d-2b8f5e7a9d10')),
})

const pageSize = v.pipe(
  v.string(),
  v.regex(/^\d{1,3}$/, `must be an integer from 1 to ${limits.pageSize}`),
  v.transform(Number),
  v.minValue(1, `must be an integer from 1 to ${limits.pageSize}`),
  v.maxValue(limits.pageSize, `must be an integer from 1 to ${limits.pageSize}`),
)

export const listNotesQuery = v.strictObject({
  limit: v.optional(pageSize, '20'),
  cursor: v.optional(
    v.pipe(
      v.string(),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const cursor = decodeCursor(dataset.value)
        if (cursor) return cursor
        addIssue({ message: 'is not a cursor returned by this API; start again without it' })
        return NEVER
      }),
    ),
  ),
  // API Gateway joins repeated parameters with commas, so `tag=a&tag=b` and `tag=a,b` mean the same:
  // notes carrying every listed tag.
  tag: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',')),
      v.array(tag),
      v.maxLength(limits.tags, `must list at most ${limits.tags} tags`),
    ),
  ),
})

export type CreateNote = v.InferOutput<typeof createNoteBody>
export type UpdateNote = v.InferOutput<typeof updateNoteBody>
export type ListQuery = { limit: number; cursor?: Cursor; tag?: string[] }

/** Routes that take no query parameters still reject unknown ones, naming them. */
export const emptyQuery = v.strictObject({})
