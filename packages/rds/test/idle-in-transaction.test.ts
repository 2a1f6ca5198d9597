import { spawn } from 'node:child_process'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { afterAll, expect, it } from 'vitest'
import { configOf } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
await database.sql`create table accounts (id int primary key, balance int not null)`
await database.sql`insert into accounts values (1, 100)`
// The recommended server setting (README): a session idle inside a transaction is ended after this long.
await database.sql.unsafe(
  `alter database "${database.database}" set idle_in_transaction_session_timeout = '1s'`,
)
const children: number[] = []
afterAll(() => {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
})

const script = `
import middy from '@middy/core'
import { sql } from 'drizzle-orm'
import { rds } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)}
const handler = middy().use(rds({ config: JSON.parse(process.env.CONFIG), tls: ${cluster.ca ? '{ ca: process.env.CA }' : 'false'}, logger: { warn() {} } }))
  .handler(async (_e, context) => context.db.transaction(async (tx) => {
    await tx.execute(sql\`select * from accounts where id = 1 for update\`)
    process.stdout.write('locked\\n')
    await new Promise(() => {}) // killed here: the function timed out or crashed mid-transaction
  }))
await handler({}, { getRemainingTimeInMillis: () => 60_000 })
`

it('releases the row lock of a client killed inside a transaction once idle_in_transaction_session_timeout passes', async () => {
  const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    cwd: new URL('.', import.meta.url).pathname,
    env: {
      ...process.env,
      CONFIG: JSON.stringify(configOf(database)),
      CA: cluster.ca ?? '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child.pid as number)
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve())
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before locking`)))
  })
  // Frozen like a Lambda sandbox that will never resume: the socket stays open, nothing is sent.
  process.kill(child.pid as number, 'SIGSTOP')
  const started = Date.now()
  await database.sql.begin(async (tx) => {
    await tx`set local lock_timeout = '5s'`
    await tx`update accounts set balance = balance + 1 where id = 1`
  })
  const waited = Date.now() - started
  expect(waited).toBeGreaterThan(300)
  expect(waited).toBeLessThan(5_000)
  const [row] = await database.sql`select balance from accounts where id = 1`
  expect(row?.balance).toBe(101)
  const stuck =
    await database.sql`select count(*)::int as n from pg_stat_activity where datname = ${database.database} and state = 'idle in transaction'`
  expect(stuck[0]?.n).toBe(0)
})
