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

/** Lines a child prints, as parsed messages, awaited in order. */
function messages(child: ChildProcess) {
  const queue: Record<string, unknown>[] = []
  const waiting: ((message: Record<string, unknown>) => void)[] = []
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const message = JSON.parse(line) as Record<string, unknown>
    const waiter = waiting.shift()
    if (waiter) waiter(message)
    else queue.push(message)
  })
  return (timeoutMs: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const queued = queue.shift()
      if (queued) return resolve(queued)
      const timer = setTimeout(
        () => reject(new Error(`container ${child.pid} sent nothing within ${timeoutMs} ms (hung)`)),
        timeoutMs,
      )
      waiting.push((message) => {
        clearTimeout(timer)
        resolve(message)
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
 * Starts `count` containers (separate Node processes, each its own middleware and client), waits until all
 * are loaded, invokes all at once, and returns their outcomes. They keep their connections until `release()`.
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
    await Promise.all(next.map((receive) => receive(60_000)))
    // Each measures its own time against its budget; this window only tells a hang from a slow machine.
    const results = next.map((receive) => receive(budgetMs + 10_000))
    for (const child of children) child.stdin?.write('go\n')
    return { outcomes: (await Promise.all(results)) as unknown as Outcome[], release }
  } catch (error) {
    await release()
    throw error
  }
}
