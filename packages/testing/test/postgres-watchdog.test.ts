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

/** Starts a cluster in a child process that prints { pid, dir } and then waits forever. */
function startChild(pause: boolean): Promise<{ child: ReturnType<typeof spawn>; pid: number; dir: string }> {
  const code = `
    const { startPostgres } = await import(${JSON.stringify(entry)})
    const cluster = await startPostgres({ throwaway: true })
    ${pause ? 'await cluster.pause()' : ''}
    console.log(JSON.stringify({ pid: cluster.pid, dir: cluster.dir }))
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line) resolve({ child, ...JSON.parse(line) })
    })
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before starting a cluster`)))
  })
}

test.each([
  ['running', false],
  ['paused', true],
])(
  'a %s cluster goes away with its directory when the process that started it is SIGKILLed',
  async (_, pause) => {
    const { child, pid, dir } = await startChild(pause)
    expect(alive(pid)).toBe(true)
    expect(existsSync(dir)).toBe(true)
    child.kill('SIGKILL')
    await expect.poll(() => alive(pid), { timeout: 15_000, interval: 100 }).toBe(false)
    await expect.poll(() => existsSync(dir), { timeout: 5_000, interval: 100 }).toBe(false)
  },
)

test('the watchdog never signals a PID whose command line does not name its server, but still removes the directory', async () => {
  const { mkdtemp } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = await mkdtemp(join(tmpdir(), 'rdskit-watchdog-test-'))
  const bystander = spawn('sleep', ['60'], { stdio: 'ignore' })
  const watchdogModule = fileURLToPath(new URL('../src/postgres/watchdog.ts', import.meta.url))
  const code = `
    const { startWatchdog } = await import(${JSON.stringify(watchdogModule)})
    const watchdog = startWatchdog({ marker: '/no/such/server/data', dir: ${JSON.stringify(dir)}, signal: 'INT' })
    watchdog.watch(${bystander.pid})
    console.log('{"ready":true}')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: Buffer) => chunk.includes('ready') && resolve()),
  )
  child.kill('SIGKILL')
  try {
    await expect.poll(() => existsSync(dir), { timeout: 5_000, interval: 100 }).toBe(false)
    expect(alive(bystander.pid as number)).toBe(true)
  } finally {
    bystander.kill('SIGKILL')
  }
})

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
