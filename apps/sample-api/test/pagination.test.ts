import { afterAll, beforeAll, expect, test } from 'vitest'
import { type AppUnderTest, createNote, startApp } from './support/harness.ts'

let app: AppUnderTest
beforeAll(async () => {
  app = await startApp()
})
afterAll(() => app?.close())

type Item = { id: string; createdAt: string }

test('walking every page while notes are inserted concurrently repeats none and skips none of the existing', async () => {
  for (let i = 0; i < 30; i++) await createNote(app, { title: `before ${i}` })
  // Ten notes in one statement share created_at exactly: the id breaks the tie.
  await app.database.sql`insert into notes (title) select 'tie ' || g from generate_series(1, 10) g`
  const existing = new Set((await app.database.sql<{ id: string }[]>`select id from notes`).map((r) => r.id))
  expect(existing.size).toBe(40)

  let inserting = true
  const inserted: string[] = []
  const writer = (async () => {
    for (let i = 0; inserting && i < 200; i++)
      inserted.push((await createNote(app, { title: `during ${i}` })).id)
  })()

  const seen: Item[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const url: string = `/notes?limit=7${cursor ? `&cursor=${cursor}` : ''}`
    const reply = await app.invoke('GET', url)
    expect(reply.status).toBe(200)
    seen.push(...(reply.json.items as Item[]))
    cursor = reply.json.nextCursor as string | null
    pages++
    // Give the writer room between pages, as a slow client would.
    await new Promise((r) => setTimeout(r, 5))
  } while (cursor)
  inserting = false
  await writer

  expect(inserted.length).toBeGreaterThan(0)
  const ids = seen.map((n) => n.id)
  expect(new Set(ids).size).toBe(ids.length)
  for (const id of existing) expect(ids).toContain(id)
  // Newest first, strictly, on (createdAt, id).
  for (let i = 1; i < seen.length; i++) {
    const [a, b] = [seen[i - 1] as Item, seen[i] as Item]
    const ordered = a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id)
    expect(ordered, `${a.createdAt}/${a.id} before ${b.createdAt}/${b.id}`).toBe(true)
  }
  expect(pages).toBeGreaterThanOrEqual(6)
})

test('the list query walks the (created_at, id) index without sorting', async () => {
  await app.database.sql`analyze notes`
  const [cursorRow] = await app.database.sql<{ created_at: string; id: string }[]>`
    select created_at::text, id from notes order by created_at desc, id desc offset 5 limit 1`
  const plan = await app.database.sql.begin(async (tx) => {
    await tx`set local enable_seqscan = off`
    return tx.unsafe(
      `explain select * from notes where (created_at, id) < ($1::timestamptz, $2::uuid) order by created_at desc, id desc limit 21`,
      [cursorRow?.created_at ?? '', cursorRow?.id ?? ''],
    )
  })
  const text = plan.map((r) => (r as Record<string, string>)['QUERY PLAN']).join('\n')
  expect(text).toContain('Index Scan Backward using notes_created_at_id_idx')
  expect(text).not.toContain('Sort')
})
