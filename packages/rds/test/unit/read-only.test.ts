import { describe, expect, it } from 'vitest'
import { isReadOnly } from '../../src/index.ts'

describe('isReadOnly', () => {
  it.each([
    'select 1',
    '  SELECT "id", "body" from "notes" where "id" = $1',
    '/* drizzle */ select * from notes',
    '-- comment\nselect now()',
    'with recent as (select * from notes) select * from recent',
    'values (1), (2)',
    'show statement_timeout',
    "select * from notes where body = 'update me'",
  ])('treats %j as read-only', (statement) => {
    expect(isReadOnly(statement)).toBe(true)
  })

  it.each([
    'insert into notes (body) values ($1)',
    'update notes set body = $1',
    'delete from notes',
    'with moved as (delete from notes returning *) select * from moved',
    'select * from notes for update',
    'select * from notes for no key update',
    'select * from notes for share',
    "select nextval('notes_id_seq')",
    'select pg_advisory_lock(1)',
    'select * into backup from notes',
    'create table x (id int)',
    'begin',
    'explain analyze delete from notes',
    'call refresh_stats()',
  ])('treats %j as possibly writing', (statement) => {
    expect(isReadOnly(statement)).toBe(false)
  })
})
