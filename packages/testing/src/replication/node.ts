import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../net/free-port.ts'
import type { OsUser } from '../postgres/os-user.ts'
import {
  descendants,
  type LogTail,
  PortInUseError,
  signal,
  spawnServer,
  waitForExit,
} from '../postgres/process.ts'
import { startWatchdog, type Watchdog } from '../postgres/watchdog.ts'

export type NodeRole = 'writer' | 'standby' | 'down'

/** How a node goes down: `fast` (SIGINT, sessions get 57P01), `crash` (SIGKILL of every process: cut). */
export type StopMode = 'fast' | 'crash'

/** One PostgreSQL server of a replicated cluster: its data directory, its port (kept across restarts), its process. */
export interface ClusterNode {
  readonly index: number
  readonly name: string
  readonly dir: string
  readonly dataDir: string
  /** 0 until the first start picks a free port; the same port on every start after. */
  port: number
  /** What the node was last started as, or `down`. */
  role: NodeRole
  pid: number | undefined
  start(as: 'writer' | 'standby'): Promise<void>
  stop(mode: StopMode): Promise<void>
  pause(): void
  resume(): void
  /** The last lines the current (or last) process printed, for error messages. */
  log(): string
}

const ready = /database system is ready to accept (read-only )?connections/

export function createNode(args: {
  index: number
  root: string
  postgres: string
  user: OsUser | undefined
  flags: (port: number, dir: string) => string[]
}): ClusterNode {
  const name = `node${args.index}`
  const dir = join(args.root, name)
  const dataDir = join(dir, 'data')
  let child: ChildProcess | undefined
  let watchdog: Watchdog | undefined
  let paused: number[] = []
  let log: LogTail | undefined

  const spawnArgs = {
    file: args.postgres,
    user: args.user,
    ready,
    timeoutMs: 60_000,
    name: `PostgreSQL ${name}`,
  }

  const node: ClusterNode = {
    index: args.index,
    name,
    dir,
    dataDir,
    port: 0,
    role: 'down',
    pid: undefined,
    async start(as) {
      if (node.pid !== undefined) throw new Error(`${name} is already running (pid ${node.pid})`)
      // One watchdog per process: it learns one PID, and stops that server if this process dies.
      watchdog = startWatchdog({ marker: dataDir, dir, signal: 'INT' })
      try {
        const started = await spawnOnPort(node.port, (port) => ({
          ...spawnArgs,
          argv: ['-D', dataDir, ...args.flags(port, dir)],
        }))
        child = started.child
        log = started.log
        node.port = started.port
        node.pid = child.pid as number
        watchdog.watch(node.pid)
      } catch (error) {
        watchdog.dismiss()
        throw error
      }
      node.role = as
    },
    async stop(mode) {
      const pid = node.pid
      if (pid === undefined) return
      node.resume()
      if (mode === 'crash') {
        // Postmaster stopped first, so it cannot fork while its children are killed.
        signal(pid, 'SIGSTOP')
        const children = descendants(pid)
        for (const each of children) signal(each, 'SIGKILL')
        signal(pid, 'SIGKILL')
        await waitGone([pid, ...children])
      } else {
        signal(pid, 'SIGINT')
        if (child) await waitForExit(child, 10_000)
      }
      child = undefined
      node.pid = undefined
      node.role = 'down'
      watchdog?.dismiss()
      watchdog = undefined
    },
    pause() {
      if (node.pid === undefined || paused.length > 0) return
      signal(node.pid, 'SIGSTOP')
      paused = [node.pid, ...descendants(node.pid)]
      for (const each of paused.slice(1)) signal(each, 'SIGSTOP')
    },
    log: () => log?.toString() ?? '',
    resume() {
      const stopped = paused
      paused = []
      const pid = node.pid
      const all = new Set([...stopped, ...(pid === undefined ? [] : descendants(pid))])
      for (const each of all) if (each !== pid) signal(each, 'SIGCONT')
      if (pid !== undefined && stopped.length > 0) signal(pid, 'SIGCONT')
    },
  }
  return node
}

/** Spawns on `port`, or on a free port when it is 0 (retrying when another process takes it first). */
async function spawnOnPort(
  port: number,
  argsFor: (port: number) => Parameters<typeof spawnServer>[0],
): Promise<{ child: ChildProcess; log: LogTail; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const chosen = port || (await freePort())
    try {
      const { child, log } = await spawnServer(argsFor(chosen))
      return { child, log, port: chosen }
    } catch (error) {
      if (port !== 0 || !(error instanceof PortInUseError) || attempt >= 5) throw error
    }
  }
}

/** Resolves once none of `pids` exists any more (a process's exit, whoever its parent is). */
async function waitGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + 15_000
  while (pids.some((pid) => isAlive(pid))) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} did not exit within 15 s`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function isAlive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false
  try {
    // A zombie has exited: only its parent's wait() is missing.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^\d+ \(.*\) Z/.test(stat)
  } catch {
    return false
  }
}
