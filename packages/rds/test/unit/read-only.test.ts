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
    // Quoted identifiers and text are data, not keywords.
    'select "update", "delete" from "notes"',
    'select "for update" from notes',
    "select 'it''s a drop' as body",
    'table notes',
    '/* a */ /* b */\n  -- c\n  select 1',
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
    // A statement that does not start like a read is not one, whatever follows.
    'set local statement_timeout = 0; select 1',
    'explain select 1',
    // Each word that writes or locks, alone after a read.
    'select 1; update notes set body = null',
    'select 1; delete from notes',
    'select 1; create table x (id int)',
    'select 1; call refresh_stats()',
    'select 1; merge notes using src on true',
    'select 1; truncate notes',
    'select 1; copy notes to stdout',
    'select 1; do $$ begin end $$',
    'select 1; lock table notes',
    'select 1; grant select on notes to app',
    'select 1; revoke select on notes from app',
    'select 1; alter table notes add c int',
    'select 1; drop table notes',
    "select setval('notes_id_seq', 1)",
    'select pg_advisory_xact_lock(1)',
    'select pg_try_advisory_lock(1)',
    "select pg_notify('notes', 'x')",
    'select pg_terminate_backend(42)',
    'select pg_cancel_backend(42)',
    "select set_config('search_path', 'x', false)",
    "select dblink_exec('update notes set body = null')",
    'select * from notes for key share',
    'select * from notes for  key\n  share',
    'select * from notes for\tshare',
  ])('treats %j as possibly writing', (statement) => {
    expect(isReadOnly(statement)).toBe(false)
  })
})
