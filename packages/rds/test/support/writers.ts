import { type ChildProcess, spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { WriterSpec } from '../fixtures/writer.ts'

const script = new URL('../fixtures/writer.ts', import.meta.url).pathname

/** One invocation of a writer container, as it reported it. Times are absolute (ms since the epoch). */
export interface Invocation {
  c: number
  seq: number
  token: string
  /** `ok`, an RdsError code, `raw:<code>` for an error without a stable code, or LAMBDA_TIMEOUT (baselines). */
  outcome: string
  retryable?: boolean
  /** The error's message and its cause's code, for the test's log. */
  detail?: string
  began: number
  ended: number
}

export const clock = () => performance.timeOrigin + performance.now()

export interface Writers {
  /** Every invocation reported so far, oldest first. */
  readonly log: Invocation[]
  /** Resolves once every container has reported a successful write after `since` (or rejects at `timeoutMs`). */
  allWroteAfter(since: number, timeoutMs: number): Promise<void>
  /** Tells every container to stop after its current invocation and waits for them to exit. */
  stop(): Promise<Invocation[]>
}

/**
 * Starts `count` writer containers (separate Node processes, each with its own client) and resolves once each
 * has acknowledged one write: warm containers. They write until stop().
 */
export async function startWriters(
  count: number,
  spec: Omit<WriterSpec, 'container'>,
  firstContainer = 0,
): Promise<Writers> {
  const log: Invocation[] = []
  const watchers = new Set<() => void>()
  const children: ChildProcess[] = []
  const exited: Promise<void>[] = []
  for (let index = 0; index < count; index++) {
    const container = firstContainer + index
    const child = spawn(process.execPath, ['--no-warnings', script], {
      env: {
        ...process.env,
        RDS_WRITER: JSON.stringify({ ...spec, container }),
        NODE_COMPILE_CACHE: join(tmpdir(), 'rdskit-rds-compile-cache'),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    children.push(child)
    exited.push(new Promise((resolve) => child.once('exit', () => resolve())))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      // The container reports on stdout, one JSON object per line; anything else a library printed there
      // (a client that logs to the console) is passed on, not parsed.
      if (!line.startsWith('{"')) return void process.stderr.write(`container ${container}: ${line}\n`)
      const message = JSON.parse(line) as Invocation
      if (message.token === undefined) return
      log.push(message)
      for (const watcher of watchers) watcher()
    })
  }
  const wroteAfter = (since: number) => {
    const done = new Set<number>()
    for (const entry of log) if (entry.outcome === 'ok' && entry.ended > since) done.add(entry.c)
    return done.size === count
  }
  const writers: Writers = {
    log,
    allWroteAfter: (since, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!wroteAfter(since)) return
          watchers.delete(check)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(() => {
          watchers.delete(check)
          reject(new Error(`not every writer container wrote within ${timeoutMs} ms`))
        }, timeoutMs)
        watchers.add(check)
        check()
      }),
    async stop() {
      for (const child of children) {
        child.stdin?.on('error', () => {})
        child.stdin?.write('stop\n')
      }
      const killers = children.map((child) => setTimeout(() => child.kill('SIGKILL'), 30_000))
      await Promise.all(exited)
      for (const killer of killers) clearTimeout(killer)
      return log
    },
  }
  try {
    await writers.allWroteAfter(0, 90_000)
  } catch (error) {
    for (const child of children) child.kill('SIGKILL')
    throw error
  }
  return writers
}

/** What a scenario is judged by, counted on the writer after it. */
export interface Tally {
  invocations: number
  acknowledged: number
  /** Acknowledged tokens missing on the writer. */
  lost: number
  /** Tokens found more than once on the writer. */
  doubled: number
  /** Invocations that ended after their budget. */
  pastDeadline: number
  /** Failures without an RdsError code. */
  withoutCode: number
  /** Failure outcomes and how many of each. */
  failures: Record<string, number>
  /** Per container: ms from `backAt` (the writer accepting again) to its first write acknowledged after it. */
  recoveryMs: number[]
}

/**
 * Counts one window of the log against the rows on the writer. `rows`: token → how many rows hold it (every
 * token written in the run, not only this window: a window's write may land twice in another).
 */
export function tally(
  entries: Invocation[],
  rows: Map<string, number>,
  { budgetMs, backAt, containers }: { budgetMs: number; backAt: number; containers: number[] },
): Tally {
  const failures: Record<string, number> = {}
  let acknowledged = 0
  let lost = 0
  let pastDeadline = 0
  let withoutCode = 0
  for (const entry of entries) {
    if (entry.ended - entry.began > budgetMs) pastDeadline++
    if (entry.outcome === 'ok') {
      acknowledged++
      if (!rows.has(entry.token)) lost++
    } else {
      failures[entry.outcome] = (failures[entry.outcome] ?? 0) + 1
      if (entry.outcome.startsWith('raw:')) withoutCode++
    }
  }
  const mine = new Set(entries.map((entry) => entry.token))
  let doubled = 0
  for (const [token, count] of rows) if (count > 1 && mine.has(token)) doubled++
  const recoveryMs = containers.map((container) => {
    const first = entries.find(
      (entry) => entry.c === container && entry.outcome === 'ok' && entry.ended > backAt,
    )
    return first ? Math.max(0, Math.round(first.ended - backAt)) : Number.POSITIVE_INFINITY
  })
  return {
    invocations: entries.length,
    acknowledged,
    lost,
    doubled,
    pastDeadline,
    withoutCode,
    failures,
    recoveryMs,
  }
}
