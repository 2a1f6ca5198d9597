import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { freePort } from '../net/free-port.ts'
import type { OsUser } from './os-user.ts'
import type { Watchdog } from './watchdog.ts'

const logLimit = 40

/** The last lines a server printed: for error messages only (PostgreSQL does not log passwords at startup). */
export class LogTail {
  readonly lines: string[] = []
  push(chunk: Buffer | string): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue
      this.lines.push(line)
      if (this.lines.length > logLimit) this.lines.shift()
    }
  }
  toString(): string {
    return this.lines.join('\n')
  }
}

const env = { ...process.env, LC_ALL: 'C', LANG: 'C' }

/** Runs a program to completion as `user`, rejecting with its output on a non-zero exit. */
export function runAs(file: string, args: string[], user: OsUser | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = new LogTail()
    const child = spawn(file, args, { ...user, env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (chunk: Buffer) => log.push(chunk))
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk))
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (code === 0) resolve()
      else reject(new Error(`${file} exited with ${signal ?? `code ${code}`}:\n${log}`))
    })
  })
}

export class PortInUseError extends Error {}

/**
 * Spawns a server and resolves once its log contains `ready`; rejects if it exits first, with a PortInUseError
 * when the port was taken (the caller retries on another). The child is unref'd: a forgotten cluster does not
 * keep Node alive, and the watchdog removes it when Node exits.
 */
export function spawnServer(args: {
  file: string
  argv: string[]
  user: OsUser | undefined
  ready: RegExp
  timeoutMs: number
  name: string
}): Promise<{ child: ChildProcess; log: LogTail }> {
  return new Promise((resolve, reject) => {
    const log = new LogTail()
    const child = spawn(args.file, args.argv, { ...args.user, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let settled = false
    const timer = setTimeout(() => {
      fail(new Error(`${args.name} did not become ready within ${args.timeoutMs} ms:\n${log}`))
      child.kill('SIGKILL')
    }, args.timeoutMs)
    const fail = (error: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(error)
    }
    // The ready line may arrive split across chunks: match against the recent output, not one chunk.
    let recent = ''
    const onData = (chunk: Buffer) => {
      log.push(chunk)
      if (settled) return
      recent = (recent + chunk.toString('utf8')).slice(-4096)
      if (args.ready.test(recent)) {
        settled = true
        clearTimeout(timer)
        child.unref()
        for (const stream of [child.stdout, child.stderr])
          (stream as unknown as { unref?: () => void })?.unref?.()
        resolve({ child, log })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', (error) => fail(error))
    child.once('exit', (code, signal) => {
      const text = log.toString()
      if (/Address already in use/i.test(text)) fail(new PortInUseError(`${args.name}: port in use`))
      else fail(new Error(`${args.name} exited (${signal ?? `code ${code}`}) before it was ready:\n${text}`))
    })
  })
}

/** PIDs of every descendant of `pid`, from /proc (children first-level, then theirs). */
export function descendants(pid: number): number[] {
  const found: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const parent = queue.shift() as number
    let text = ''
    try {
      text = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8')
    } catch {
      continue
    }
    for (const child of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch {}
}

/** Resolves when the child has exited; sends SIGKILL after `graceMs`. */
export function waitForExit(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

export interface RunningServer {
  port: number
  pid: number
  /** Signals the server and waits for it to exit (SIGKILL after `graceMs`). */
  stop(): Promise<void>
}

/**
 * Starts a server on a free port: `argvFor(port)` prepares its arguments (and any file naming the port); when
 * another process took the port in between, it retries on a fresh one. The watchdog learns the PID.
 */
export async function startOnFreePort(args: {
  file: string
  argvFor: (port: number) => Promise<string[]>
  user: OsUser | undefined
  ready: RegExp
  timeoutMs: number
  name: string
  watchdog: Watchdog
  stopSignal: NodeJS.Signals
  graceMs: number
}): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      const { child } = await spawnServer({ ...args, argv: await args.argvFor(port) })
      const pid = child.pid as number
      args.watchdog.watch(pid)
      return {
        port,
        pid,
        async stop() {
          signal(pid, args.stopSignal)
          await waitForExit(child, args.graceMs)
        },
      }
    } catch (error) {
      if (!(error instanceof PortInUseError) || attempt >= 5) throw error
    }
  }
}
