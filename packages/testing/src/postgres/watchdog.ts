import { type ChildProcess, spawn } from 'node:child_process'

/*
 * The watchdog is a detached shell blocked reading a pipe whose only writer is this process. It starts before the
 * server (so a crash in between still removes the directory) and learns the server's PID as the first line. When this process
 * ends for any reason (stop() forgotten, SIGKILL, a vitest worker torn down), the kernel closes the pipe, `read`
 * returns, and the shell stops the server and removes its directory. It signals the PID only while that PID's
 * command line still contains `marker` (the server's unique temp path), so a recycled PID is never touched.
 */
const script = `
marker="$1"; dir="$2"; sig="$3"
read -r pid || true
read -r _ignored || true
owned() { [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\\000' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$marker"; }
if owned; then
  kill -CONT "$pid" 2>/dev/null
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do kill -CONT "$child" 2>/dev/null; done
  kill -"$sig" "$pid" 2>/dev/null
  i=0
  while owned && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  owned && kill -KILL "$pid" 2>/dev/null
fi
rm -rf -- "$dir"
`

// Handles of live watchdogs: their pipe's write end must stay open (and referenced from JS) until stop().
const live = new Set<ChildProcess>()

export interface Watchdog {
  /** Tell the watchdog which PID to stop (once, after the server is spawned). */
  watch(pid: number): void
  /** The server stopped cleanly: end the watchdog without letting it act. */
  dismiss(): void
}

export function startWatchdog(target: { marker: string; dir: string; signal: 'INT' | 'TERM' }): Watchdog {
  const child = spawn(
    '/bin/sh',
    ['-c', script, 'rdskit-watchdog', target.marker, target.dir, target.signal],
    {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  )
  child.on('error', () => {})
  child.stdin?.on('error', () => {})
  live.add(child)
  child.once('exit', () => live.delete(child))
  child.unref()
  ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
  return {
    watch(pid) {
      child.stdin?.write(`${pid}\n`)
    },
    dismiss() {
      if (!live.has(child)) return
      live.delete(child)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      child.stdin?.destroy()
    },
  }
}
