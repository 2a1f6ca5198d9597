import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('every node of a replicated cluster, restarted and stalled, goes away with its directory when the process that started it is SIGKILLed', async () => {
  // The writer is restarted (a second process on its port, with its own watchdog) and then stalled.
  const code = `
    const { startReplicatedCluster } = await import(${JSON.stringify(entry)})
    const cluster = await startReplicatedCluster({ standbys: 1 })
    await cluster.restart({ mode: 'fast' })
    cluster.stall(60_000)
    console.log(JSON.stringify({ pids: cluster.nodes().map((node) => node.pid), dir: cluster.dir }))
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const { pids, dir } = await new Promise<{ pids: number[]; dir: string }>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk
      const line = out.split('\n').find((each) => each.startsWith('{'))
      if (line) resolve(JSON.parse(line))
    })
    child.once('exit', (exit) => reject(new Error(`child exited (${exit}) before starting a cluster`)))
  })
  expect(pids).toHaveLength(2)
  for (const pid of pids) expect(alive(pid)).toBe(true)
  child.kill('SIGKILL')
  for (const pid of pids) await expect.poll(() => alive(pid), { timeout: 15_000, interval: 100 }).toBe(false)
  await expect.poll(() => existsSync(dir), { timeout: 5_000, interval: 100 }).toBe(false)
}, 60_000)
