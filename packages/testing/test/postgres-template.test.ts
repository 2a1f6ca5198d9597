import { spawn } from 'node:child_process'
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))

/** Runs startPostgres() + a query + stop() in a fresh process whose temp dir (so template cache) is `dir`. */
function clusterInChild(dir: string): Promise<string> {
  const code = `
    const { startPostgres } = await import(${JSON.stringify(entry)})
    const cluster = await startPostgres({ version: 15 })
    const [row] = await cluster.sql\`select current_setting('server_version_num') as v\`
    await cluster.stop()
    console.log(row.v)
  `
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, TMPDIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk
    })
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk
    })
    child.once('exit', (status) =>
      status === 0 ? resolve(out.trim()) : reject(new Error(`exit ${status}: ${err}`)),
    )
  })
}

test('processes that need the same new template at the same moment all start, and one template remains', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rdskit-template-race-'))
  await chmod(dir, 0o755)
  try {
    const versions = await Promise.all([clusterInChild(dir), clusterInChild(dir), clusterInChild(dir)])
    for (const version of versions) expect(version).toMatch(/^15\d{4}$/)
    const entries = await readdir(dir)
    expect(entries.filter((name) => name.startsWith('rdskit-pg-template-15-'))).toHaveLength(1)
    expect(entries.filter((name) => name.includes('.build-'))).toEqual([])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  // Three cold starts at once (and, from a private checkout as root, three racing copies of the binaries)
  // on a shared 2-core machine: the subject is the race's outcome, not its speed.
}, 120_000)
