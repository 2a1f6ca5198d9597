import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll } from 'vitest'
import type { RdsOptions } from '../src/index.ts'

const script = new URL('./fixtures/container.ts', import.meta.url).pathname

export interface Outcome {
  outcome: string
  retryable?: boolean
  elapsed: number
}

/**
 * Lines a child prints, as parsed messages, awaited in order. A child that exits before sending the awaited
 * message fails the wait at once; a child that stays silent fails it after `timeoutMs` (a hang).
 */
function messages(child: ChildProcess) {
  const queue: Record<string, unknown>[] = []
  const waiting: ((message: Record<string, unknown>) => void)[] = []
  const exitWaiters: ((code: number | null) => void)[] = []
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const message = JSON.parse(line) as Record<string, unknown>
    const waiter = waiting.shift()
    exitWaiters.shift()
    if (waiter) waiter(message)
    else queue.push(message)
  })
  child.once('exit', (code) => {
    for (const onExit of exitWaiters.splice(0)) onExit(code)
  })
  return (timeoutMs: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const queued = queue.shift()
      if (queued) return resolve(queued)
      if (child.exitCode !== null)
        return reject(new Error(`container ${child.pid} exited (${child.exitCode})`))
      const timer = setTimeout(
        () => reject(new Error(`container ${child.pid} sent nothing within ${timeoutMs} ms (hung)`)),
        timeoutMs,
      )
      waiting.push((message) => {
        clearTimeout(timer)
        resolve(message)
      })
      exitWaiters.push((code) => {
        clearTimeout(timer)
        reject(new Error(`container ${child.pid} exited (${code}) before answering`))
      })
    })
}

// V8's compiled code shared by the containers of this test file, removed with it.
let compileCacheDir: string | undefined
const compileCache = () => {
  compileCacheDir ??= mkdtempSync(join(tmpdir(), 'rdskit-rds-compile-cache-'))
  return compileCacheDir
}
afterAll(() => {
  if (compileCacheDir) rmSync(compileCacheDir, { recursive: true, force: true })
})

/**
 * How long `count` processes may take to load their modules before one counts as hung. Loading is not what
 * the tests measure: 20 Node processes starting at once on a 2-core machine shared with other suites have
 * taken over a minute. A crashed child fails at once (see `messages`).
 */
export const loadWindowMs = 180_000

/**
 * Starts `count` containers (separate Node processes, each its own middleware and client), waits until all
 * are loaded, invokes all at once, and returns their outcomes. They keep their connections until `release()`.
 * A test running it needs a timeout above `loadWindowMs`.
 */
export async function runContainers(
  count: number,
  options: RdsOptions<Record<string, never>, 'db'>,
  { budgetMs, statement = 'select 1' }: { budgetMs: number; statement?: string },
) {
  const env = {
    ...process.env,
    RDS_CONTAINER: JSON.stringify({ options, budgetMs, statement }),
    // 20 processes load the same modules: share V8's compiled code between them.
    NODE_COMPILE_CACHE: compileCache(),
  }
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--no-warnings', script], { env, stdio: ['pipe', 'pipe', 'inherit'] }),
  )
  const release = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve()
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
            child.once('exit', () => {
              clearTimeout(timer)
              resolve()
            })
            child.stdin?.on('error', () => {})
            child.stdin?.write('exit\n')
          }),
      ),
    )
  }
  const next = children.map(messages)
  try {
    const loading = performance.now()
    await Promise.all(next.map((receive) => receive(loadWindowMs)))
    console.info(`${count} containers loaded in ${(performance.now() - loading).toFixed(0)} ms`)
    // Each measures its own time against its budget; this window only tells a hang from a slow machine.
    const results = next.map((receive) => receive(budgetMs + 10_000))
    for (const child of children) child.stdin?.write('go\n')
    return { outcomes: (await Promise.all(results)) as unknown as Outcome[], release }
  } catch (error) {
    await release()
    throw error
  }
}
