import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { pinApart } from '../src/index.ts'
import { descendants } from '../src/postgres/process.ts'
import { requireSystemBinary } from '../src/system-binary.ts'

const allowedCpus = (pid: number) =>
  /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]

const original = allowedCpus(process.pid)
const started: number[] = []

afterEach(() => {
  for (const pid of started.splice(0).reverse()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
})

describe('pinApart', () => {
  it.runIf(availableParallelism() >= 2)(
    'puts a server, its children and later forks on the last CPU, this process on the others',
    async () => {
      if (!requireSystemBinary('taskset')) return
      // A parent shell with a child already running and one it forks after pinning.
      const server = spawn('sh', ['-c', 'sleep 30 & read line; sleep 30 & wait'], {
        stdio: ['pipe', 'ignore', 'ignore'],
      })
      started.push(server.pid as number)
      await expect.poll(() => descendants(server.pid as number).length).toBe(1)
      const [before] = descendants(server.pid as number)
      started.push(before as number)
      const last = String(availableParallelism() - 1)
      const pinned = pinApart([server.pid as number])
      try {
        expect(pinned?.server).toBe(last)
        expect(allowedCpus(server.pid as number)).toBe(last)
        expect(allowedCpus(before as number)).toBe(last)
        server.stdin?.write('fork\n')
        await expect.poll(() => descendants(server.pid as number).length).toBe(2)
        const children = descendants(server.pid as number)
        const later = children.find((pid) => pid !== before)
        expect(later).toBeDefined()
        expect(allowedCpus(later as number)).toBe(last)
        started.push(...children)
        expect(allowedCpus(process.pid)).toBe(pinned?.client)
        expect(
          pinned?.client
            .split(/[-,]/)
            .map(Number)
            .every((cpu) => cpu < Number(last)),
        ).toBe(true)
      } finally {
        // Give this test worker its CPUs back.
        execFileSync('taskset', ['-a', '-c', '-p', original as string, String(process.pid)], {
          stdio: 'ignore',
        })
      }
    },
  )
})
