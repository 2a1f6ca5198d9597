import httpJsonBodyParser from '@middy/http-json-body-parser'
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda'
import type { Note } from '../db/schema.ts'
import { bodyLimit } from '../http/body-limit.ts'
import { notFound } from '../http/problem.ts'
import { json, noContent } from '../http/response.ts'
import { type ValidateOptions, validate } from '../http/validation.ts'
import { etagOf, parseIfMatch, preconditionRequired, versionMismatch } from '../notes/etag.ts'
import { idempotency, parseIdempotencyKey, requestHash, withIdempotencyKey } from '../notes/idempotency.ts'
import { deleteNote, findNote, insertNote, insertNoteIn, listNotes, updateNote } from '../notes/repository.ts'
import {
  type CreateNote,
  createNoteBody,
  emptyQuery,
  type ListQuery,
  listNotesQuery,
  noteIdPath,
  type UpdateNote,
  updateNoteBody,
} from '../notes/schemas.ts'
import type { AppContext, Validated } from './context.ts'
import { type RouteStep, route } from './route.ts'

type Id = { id: string }
type Handler<E> = (event: E, context: AppContext) => Promise<APIGatewayProxyStructuredResultV2>

export const present = (note: Note) => ({
  id: note.id,
  slug: note.slug,
  title: note.title,
  body: note.body,
  tags: note.tags,
  version: note.version,
  createdAt: note.createdAt.toISOString(),
  updatedAt: note.updatedAt.toISOString(),
})

const noteResponse = (status: number, note: Note, headers: Record<string, string> = {}) =>
  json(status, present(note), { ETag: etagOf(note.version), ...headers })

const missing = (id: string) => notFound(`No note has id ${id}.`)

const created = (note: Note) => noteResponse(201, note, { Location: `/notes/${note.id}` })

const createNote: Handler<Validated<CreateNote>> = async (event, context) => {
  const key = parseIdempotencyKey(event.headers[idempotency.header])
  if (key === undefined) return created(await insertNote(context.db, event.body))
  const { method, path } = event.requestContext.http
  const hash = requestHash(method, path, event.body)
  return withIdempotencyKey(context.db, { key, hash }, async (tx) =>
    created(await insertNoteIn(tx, event.body)),
  )
}

const listNotesHandler: Handler<Validated<unknown, ListQuery>> = async (event, context) => {
  const page = await listNotes(context.db, event.queryStringParameters)
  return json(200, { items: page.items.map(present), nextCursor: page.nextCursor })
}

const getNote: Handler<Validated<unknown, unknown, Id>> = async (event, context) => {
  // From the writer even with a reader: a client reading back what it just created or patched (Location, ETag
  // for If-Match) must not get a lagging replica's 404 or old version. Lists go to the reader.
  const note = await findNote(context.db.$primary, event.pathParameters.id)
  if (!note) throw missing(event.pathParameters.id)
  return noteResponse(200, note)
}

const patchNote: Handler<Validated<UpdateNote, unknown, Id>> = async (event, context) => {
  const precondition = parseIfMatch(event.headers['if-match'])
  if (!precondition) throw preconditionRequired()
  const outcome = await updateNote(context.db, event.pathParameters.id, precondition, event.body)
  if (outcome.ok) return noteResponse(200, outcome.value)
  if (outcome.reason === 'not-found') throw missing(event.pathParameters.id)
  throw versionMismatch(outcome.current)
}

const removeNote: Handler<Validated<unknown, unknown, Id>> = async (event, context) => {
  const precondition = parseIfMatch(event.headers['if-match']) ?? { kind: 'any' as const }
  const outcome = await deleteNote(context.db, event.pathParameters.id, precondition)
  if (outcome.ok) return noContent()
  if (outcome.reason === 'not-found') throw missing(event.pathParameters.id)
  throw versionMismatch(outcome.current)
}

type Step = RouteStep

const jsonBody = (maxBodyBytes: number, schema: ValidateOptions['body']): Step[] => [
  bodyLimit(maxBodyBytes),
  httpJsonBodyParser() as unknown as Step,
  validate({ body: schema }),
]

export interface NoteRoutesOptions {
  maxBodyBytes: number
  /** Middlewares every route runs after its validation, before its handler (kms-env, rds). */
  dependencies: Step[]
}

export const noteRoutes = ({ maxBodyBytes, dependencies }: NoteRoutesOptions) => [
  route(
    'POST',
    '/notes',
    [validate({ query: emptyQuery }), ...jsonBody(maxBodyBytes, createNoteBody)],
    createNote,
    dependencies,
  ),
  route('GET', '/notes', [validate({ query: listNotesQuery })], listNotesHandler, dependencies),
  route('GET', '/notes/{id}', [validate({ path: noteIdPath, query: emptyQuery })], getNote, dependencies),
  route(
    'PATCH',
    '/notes/{id}',
    [validate({ path: noteIdPath, query: emptyQuery }), ...jsonBody(maxBodyBytes, updateNoteBody)],
    patchNote,
    dependencies,
  ),
  route(
    'DELETE',
    '/notes/{id}',
    [validate({ path: noteIdPath, query: emptyQuery })],
    removeNote,
    dependencies,
  ),
]
