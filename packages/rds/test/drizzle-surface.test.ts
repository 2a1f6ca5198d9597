import { sharedPostgres } from '@rdskit/testing/vitest'
import { and, asc, count, desc, eq, gt, relations, sql } from 'drizzle-orm'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { afterAll, describe, expect, it } from 'vitest'
import type { RdsDatabase } from '../src/index.ts'
import { configOf, container, resetAll } from './helpers.ts'

// drizzle reaches postgres.js only through what rds hands it (`unsafe()` guarded, awaited or `.values()`,
// and `begin`/savepoints for transactions). Every query shape drizzle offers runs here through `context.db`,
// so a drizzle release that calls something the guard lacks fails in this file first.

const authors = pgTable('authors', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
})
const posts = pgTable('posts', {
  id: serial('id').primaryKey(),
  authorId: integer('author_id')
    .notNull()
    .references(() => authors.id),
  title: text('title').notNull(),
  likes: integer('likes').notNull().default(0),
})
const authorsRelations = relations(authors, ({ many }) => ({ posts: many(posts) }))
const postsRelations = relations(posts, ({ one }) => ({
  author: one(authors, { fields: [posts.authorId], references: [authors.id] }),
}))
const schema = { authors, posts, authorsRelations, postsRelations }
type Db = RdsDatabase<typeof schema>

const database = await sharedPostgres.testDatabase()
await database.sql`create table authors (id serial primary key, name text not null unique)`
await database.sql`create table posts (id serial primary key, author_id int not null references authors(id),
  title text not null, likes int not null default 0)`
afterAll(resetAll)

/** Runs `body` as the handler of one invocation, with `context.db` typed from the schema. */
const c = container({ config: configOf(database, 'drizzle-surface'), schema, logger: { warn() {} } }, (async (
  event: { body: (db: Db) => Promise<unknown> },
  ctx: { db: Db },
) => event.body(ctx.db)) as never)
const run = <T>(body: (db: Db) => Promise<T>) => c.invoke({ body }) as Promise<T>

class Rollback extends Error {}

describe('drizzle through context.db', () => {
  it('inserts with returning, one row and many, and on conflict', async () => {
    const [ada] = await run((db) => db.insert(authors).values({ name: 'Ada' }).returning())
    expect(ada).toEqual({ id: expect.any(Number), name: 'Ada' })
    const many = await run((db) =>
      db
        .insert(posts)
        .values([
          { authorId: ada?.id as number, title: 'first', likes: 3 },
          { authorId: ada?.id as number, title: 'second', likes: 7 },
        ])
        .returning({ id: posts.id, title: posts.title }),
    )
    expect(many.map((p) => p.title)).toEqual(['first', 'second'])
    const again = await run((db) =>
      db.insert(authors).values({ name: 'Ada' }).onConflictDoNothing().returning(),
    )
    expect(again).toEqual([])
    const upserted = await run((db) =>
      db
        .insert(authors)
        .values({ name: 'Ada' })
        .onConflictDoUpdate({ target: authors.name, set: { name: sql`excluded.name || '!'` } })
        .returning({ name: authors.name }),
    )
    expect(upserted).toEqual([{ name: 'Ada!' }])
  })

  it('selects with where, order, limit, joins, aggregates, CTEs and partial columns', async () => {
    const rows = await run((db) =>
      db.select().from(posts).where(gt(posts.likes, 0)).orderBy(desc(posts.likes)).limit(1),
    )
    expect(rows[0]?.title).toBe('second')
    const joined = await run((db) =>
      db
        .select({ title: posts.title, author: authors.name })
        .from(posts)
        .innerJoin(authors, eq(posts.authorId, authors.id))
        .orderBy(asc(posts.id)),
    )
    expect(joined).toEqual([
      { title: 'first', author: 'Ada!' },
      { title: 'second', author: 'Ada!' },
    ])
    const [total] = await run((db) => db.select({ n: count() }).from(posts))
    expect(total).toEqual({ n: 2 })
    expect(await run((db) => db.$count(posts, gt(posts.likes, 5)))).toBe(1)
    const liked = await run((db) => {
      const popular = db.$with('popular').as(db.select().from(posts).where(gt(posts.likes, 5)))
      return db.with(popular).select({ title: popular.title }).from(popular)
    })
    expect(liked).toEqual([{ title: 'second' }])
  })

  it('updates and deletes with returning', async () => {
    const updated = await run((db) =>
      db
        .update(posts)
        .set({ likes: sql`${posts.likes} + 1` })
        .where(eq(posts.title, 'first'))
        .returning({ likes: posts.likes }),
    )
    expect(updated).toEqual([{ likes: 4 }])
    const [extra] = await run((db) =>
      db.insert(posts).values({ authorId: sql`(select min(id) from authors)`, title: 'doomed' }).returning(),
    )
    const deleted = await run((db) =>
      db
        .delete(posts)
        .where(eq(posts.id, extra?.id as number))
        .returning(),
    )
    expect(deleted.map((p) => p.title)).toEqual(['doomed'])
  })

  it('commits a transaction, rolls one back (tx.rollback() and a throw), and keeps a nested savepoint apart', async () => {
    await run((db) =>
      db.transaction(async (tx) => {
        const [grace] = await tx.insert(authors).values({ name: 'Grace' }).returning()
        await tx.insert(posts).values({ authorId: grace?.id as number, title: 'committed' })
      }),
    )
    await expect(
      run((db) =>
        db.transaction(async (tx) => {
          await tx.insert(authors).values({ name: 'Rolled back' })
          tx.rollback()
        }),
      ),
    ).rejects.toThrow(/rollback/i)
    await expect(
      run((db) =>
        db.transaction(async (tx) => {
          await tx.insert(authors).values({ name: 'Thrown' })
          throw new Rollback('handler failed')
        }),
      ),
    ).rejects.toBeInstanceOf(Rollback)
    await run((db) =>
      db.transaction(async (tx) => {
        await tx.insert(authors).values({ name: 'Outer' })
        await tx
          .transaction(async (inner) => {
            await inner.insert(authors).values({ name: 'Inner' })
            inner.rollback()
          })
          .catch(() => {})
        await tx.transaction(async (inner) => {
          await inner.insert(authors).values({ name: 'Inner kept' })
        })
      }),
    )
    const names = (await database.sql`select name from authors order by id`).map((r) => r.name)
    expect(names).toEqual(['Ada!', 'Grace', 'Outer', 'Inner kept'])
  })

  it('runs prepared statements with placeholders, again and again', async () => {
    const titles = await run(async (db) => {
      const byAuthor = db
        .select({ title: posts.title })
        .from(posts)
        .innerJoin(authors, eq(posts.authorId, authors.id))
        .where(and(eq(authors.name, sql.placeholder('name')), gt(posts.likes, sql.placeholder('min'))))
        .orderBy(asc(posts.id))
        .prepare('posts_by_author')
      const out: string[][] = []
      for (const min of [-1, 5]) {
        out.push((await byAuthor.execute({ name: 'Ada!', min })).map((r) => r.title))
      }
      return out
    })
    expect(titles).toEqual([['first', 'second'], ['second']])
  })

  it('executes raw SQL with db.execute, parameters bound', async () => {
    const rows = await run((db) =>
      db.execute<{ n: number; echoed: string }>(sql`select 2 * ${21}::int as n, ${"it's"}::text as echoed`),
    )
    expect([...rows]).toEqual([{ n: 42, echoed: "it's" }])
  })

  it('answers relational queries: findMany and findFirst with `with`, where, orderBy and columns', async () => {
    const all = await run((db) =>
      db.query.authors.findMany({
        with: { posts: { columns: { title: true }, orderBy: [asc(posts.id)] } },
        orderBy: [asc(authors.id)],
      }),
    )
    expect(all.map((a) => [a.name, a.posts.map((p) => p.title)])).toEqual([
      ['Ada!', ['first', 'second']],
      ['Grace', ['committed']],
      ['Outer', []],
      ['Inner kept', []],
    ])
    const post = await run((db) =>
      db.query.posts.findFirst({
        where: eq(posts.title, 'committed'),
        with: { author: { columns: { name: true } } },
      }),
    )
    expect(post).toMatchObject({ title: 'committed', author: { name: 'Grace' } })
    expect(await run((db) => db.query.posts.findFirst({ where: eq(posts.title, 'none') }))).toBeUndefined()
  })
})
