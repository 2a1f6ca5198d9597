import type { TestDatabase } from '@rdskit/testing'
import { vi } from 'vitest'

/**
 * Holds the transaction that inserts a note titled `title` at its COMMIT: a deferred constraint trigger
 * takes an advisory lock the test holds, so the note and its idempotency key are written but not yet
 * committed until `open()`. Lets a test act (a second request, a connection reset) at that exact moment,
 * with no sleep.
 */
export const commitGate = async (database: TestDatabase, title: string) => {
  const lockId = 727_001 + Math.floor(Math.random() * 1_000_000)
  const holder = await database.sql.reserve()
  await holder`select pg_advisory_lock(${lockId})`
  await database.sql.unsafe(`
    create or replace function hold_commit() returns trigger language plpgsql as $$
    begin perform pg_advisory_xact_lock(${lockId}); return null; end $$;
    create constraint trigger hold_commit after insert on notes deferrable initially deferred
      for each row when (new.title = '${title.replaceAll("'", "''")}') execute function hold_commit();`)

  /** Sessions of this database waiting on `event` (advisory: at the gate; transactionid: on another's row). */
  const waiting = async (event: 'advisory' | 'transactionid') => {
    const [row] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and wait_event = ${event}`
    return row?.n ?? 0
  }

  return {
    /** Resolves once `count` sessions wait on `event`. */
    waitFor: (event: 'advisory' | 'transactionid', count = 1) =>
      vi.waitFor(
        async () => {
          if ((await waiting(event)) < count) throw new Error(`fewer than ${count} sessions wait on ${event}`)
        },
        { timeout: 10_000, interval: 20 },
      ),
    /** Lets the held COMMIT go ahead. */
    open: async () => {
      await holder`select pg_advisory_unlock(${lockId})`
    },
    /** Removes the trigger and gives back the held connection. */
    remove: async () => {
      await holder`select pg_advisory_unlock_all()`
      holder.release()
      await database.sql.unsafe(
        'drop trigger if exists hold_commit on notes; drop function if exists hold_commit();',
      )
    },
  }
}
