import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { descendants } from '../postgres/process.ts'

export interface PinnedApart {
  /** CPUs (taskset list syntax) this process and its threads now run on. */
  client: string
  /** CPUs the server process, its descendants and any process it forks later now run on. */
  server: string
}

/** Read once: availableParallelism() follows this process's own affinity, which pinApart narrows. */
const cpusAtStart = availableParallelism()

function pin(pid: number, cpus: string) {
  // -a: every thread (libuv's pool, V8's GC helpers); -c: a CPU list. Children forked later inherit it.
  execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'ignore' })
}

/**
 * For benchmarks: runs the server (a postmaster and its backends, PgBouncer…) on the last CPU and this
 * process on the others, as a database on its own host would be. On a small machine the scheduler otherwise
 * puts each new backend wherever it likes, and two identical connections then differ by up to 10 % in
 * latency, which is more than the differences the benchmarks look for. Returns undefined (nothing pinned)
 * with fewer than 2 CPUs or without `taskset`.
 */
export function pinApart(serverPids: number[]): PinnedApart | undefined {
  const cpus = cpusAtStart
  if (cpus < 2) return undefined
  const server = String(cpus - 1)
  const client = cpus === 2 ? '0' : `0-${cpus - 2}`
  try {
    for (const root of serverPids) for (const pid of [root, ...descendants(root)]) pin(pid, server)
    pin(process.pid, client)
  } catch {
    return undefined
  }
  return { client, server }
}
