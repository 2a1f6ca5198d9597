import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { serverBinaries, stageBinaries } from '../src/postgres/binaries.ts'
import { serverOsUser } from '../src/postgres/os-user.ts'
import { runAs } from '../src/postgres/process.ts'
import { reachableBy, serverTempDir } from '../src/postgres/reachable.ts'
import { requireSystemBinary } from '../src/system-binary.ts'

/*
 * A checkout or TMPDIR under a private (0700) directory, such as root's home in most containers: as root the
 * server runs as the `postgres` OS user, which cannot search that directory.
 */
const asRoot = process.getuid?.() === 0
const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))
const run = promisify(execFile)

let privateDir = ''
beforeAll(async () => {
  privateDir = await mkdtemp(join(tmpdir(), 'rdskit-private-'))
  await chmod(privateDir, 0o700)
})
afterAll(() => rm(privateDir, { recursive: true, force: true }))

describe('reachableBy', () => {
  const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
  const stranger = { uid: me.uid + 4242, gid: me.gid + 4242 }

  test('says a stranger cannot reach a directory below a 0700 one, and its owner can', async () => {
    const inner = join(privateDir, 'open')
    await mkdir(inner, { mode: 0o755, recursive: true })
    expect(await reachableBy(inner, stranger)).toBe(false)
    expect(await reachableBy(inner, me)).toBe(true)
    expect(await reachableBy(inner, undefined)).toBe(true)
  })

  test('says a stranger can pass a directory that grants others search (0711)', async () => {
    const passable = await mkdtemp(join(tmpdir(), 'rdskit-passable-'))
    try {
      await chmod(passable, 0o711)
      expect(await reachableBy(passable, stranger)).toBe(true)
    } finally {
      await rm(passable, { recursive: true, force: true })
    }
  })

  test('serverTempDir leaves a private TMPDIR for /tmp when the server user cannot reach it', async () => {
    const saved = process.env.TMPDIR
    process.env.TMPDIR = privateDir
    try {
      expect(await serverTempDir(stranger)).toBe('/tmp')
      expect(await serverTempDir(undefined)).toBe(privateDir)
    } finally {
      if (saved === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = saved
    }
  })
})

describe.runIf(asRoot)('as root, with the server running as the postgres OS user', () => {
  test('binaries inside a 0700 directory are staged where the server user can run them', async () => {
    const user = await serverOsUser()
    const installed = await serverBinaries(17)
    // The binary package (package.json, native/bin, native/lib, native/share) as a checkout would hold it.
    const binaryPackage = dirname(dirname(dirname(installed.initdb)))
    const hidden = join(privateDir, 'checkout', 'linux-x64')
    await mkdir(dirname(hidden), { recursive: true })
    await run('cp', ['-al', binaryPackage, hidden])
    const bin = join(hidden, 'native', 'bin')
    const unreachable = { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') }

    await expect(runAs(unreachable.initdb, ['--version'], user)).rejects.toThrow(/EACCES/)
    const staged = await stageBinaries(unreachable, 17, user)
    expect(staged.initdb.startsWith(privateDir)).toBe(false)
    expect(await reachableBy(dirname(staged.postgres), user)).toBe(true)
    await expect(runAs(staged.initdb, ['--version'], user)).resolves.toBeUndefined()
  })

  test('a cluster, its template and PgBouncer start with TMPDIR inside a 0700 directory', async () => {
    const pgbouncer = requireSystemBinary('pgbouncer') !== undefined
    const code = `
      const { startPostgres, startPgBouncer } = await import(${JSON.stringify(entry)})
      const cluster = await startPostgres({ version: 16 })
      const [row] = await cluster.sql\`select 1 as one\`
      let pooled = 'skipped'
      if (${pgbouncer}) {
        const bouncer = await startPgBouncer({ upstream: { host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password } })
        const { default: postgres } = await import('postgres')
        const sql = postgres(bouncer.url(), { max: 1, prepare: false })
        pooled = (await sql\`select 'pooled' as via\`)[0].via
        await sql.end()
        await bouncer.stop()
      }
      await cluster.stop()
      console.log(row.one, pooled)
    `
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], {
      cwd: dirname(entry),
      env: { ...process.env, TMPDIR: privateDir },
    })
    expect(stdout.trim()).toBe(`1 ${pgbouncer ? 'pooled' : 'skipped'}`)
  })
})
