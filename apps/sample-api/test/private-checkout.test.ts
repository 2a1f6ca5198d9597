import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { appDir, repoRoot } from '../src/local/paths.ts'
import { caller, type LocalProcess, startLocalProcess } from './support/local-process.ts'

/*
 * A clone under a private (0700) directory, as in root's home in most containers: there the throwaway
 * PostgreSQL, which runs as the `postgres` OS user when started by root, cannot reach the binaries in
 * node_modules. The checkout is reproduced with hard links (a second or so), then `pnpm start`'s script
 * runs from it.
 */
const run = promisify(execFile)
let privateDir = ''
let local: LocalProcess | undefined

/** Hard links where the file system allows it, a copy where it does not. */
const copyTree = async (from: string[], to: string) => {
  await run('cp', ['-al', ...from, to]).catch(() => run('cp', ['-a', ...from, to]))
}

beforeAll(async () => {
  privateDir = await mkdtemp(join(tmpdir(), 'rdskit-private-checkout-'))
  await chmod(privateDir, 0o700)
  const checkout = join(privateDir, 'rdskit')
  await mkdir(join(checkout, 'apps'), { recursive: true })
  await copyTree(
    ['package.json', 'pnpm-workspace.yaml', 'node_modules', 'packages'].map((name) => join(repoRoot, name)),
    checkout,
  )
  await copyTree([appDir], join(checkout, 'apps'))
  local = await startLocalProcess({ FUNCTION_NAME: 'rdskit-private' }, join(checkout, 'apps', 'sample-api'))
}, 120_000)

afterAll(async () => {
  if (local?.child.exitCode === null) local.child.kill('SIGKILL')
  await rm(privateDir, { recursive: true, force: true })
})

test('the local server starts from a checkout inside a 0700 directory and serves requests', async () => {
  const call = caller((local as LocalProcess).url)
  const health = await call('GET', '/health')
  expect(health.res.status).toBe(200)
  expect(health.json).toMatchObject({ status: 'ok', database: 'reachable' })
  const created = await call('POST', '/notes', { title: 'private', tags: [] })
  expect(created.res.status).toBe(201)
  expect(await (local as LocalProcess).interrupt()).toBe(0)
})
