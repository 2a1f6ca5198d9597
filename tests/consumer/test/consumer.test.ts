import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type KmsEndpoint, type PostgresCluster, startKms, startPostgres } from '@rdskit/testing'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { packPackages } from '../../../scripts/pack-packages.ts'

/*
 * What a user of the published packages gets: both packages packed as for the registry, installed with npm
 * into a project outside the workspace next to nothing but their peers (no workspace links, no hoisted
 * devDependencies to lean on), a handler typechecked with strict nodenext settings, compiled, and run
 * against a throwaway PostgreSQL (TLS, verified) with its password decrypted through the KMS protocol.
 */
const run = promisify(execFile)
const root = fileURLToPath(new URL('../../../', import.meta.url))
const fixture = fileURLToPath(new URL('./fixture/', import.meta.url))
const peers = [
  '@middy/core',
  '@aws-sdk/client-kms',
  'drizzle-orm',
  'postgres',
  'typescript',
  '@types/node',
  '@types/aws-lambda',
]

/** The version the workspace pins in pnpm-workspace.yaml's catalog, so npm installs the tested one. */
const catalogVersion = async (name: string) => {
  const yaml = await readFile(join(root, 'pnpm-workspace.yaml'), 'utf8')
  const quoted = name.replace(/[/@.-]/g, (c) => `\\${c}`)
  const version = new RegExp(`^\\s+"?${quoted}"?:\\s*(\\S+)\\s*$`, 'm').exec(yaml)?.[1]
  if (!version) throw new Error(`${name} is not in the catalog of pnpm-workspace.yaml`)
  return version
}

/**
 * The environment of a shell outside the workspace: pnpm's npm_* and PNPM_* variables dropped. The user's own
 * NPM_CONFIG_* (a registry mirror, a CA file) and the proxy and CA variables stay: npm needs them to reach the
 * registry as the user's shell would.
 */
const outsideEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|pnpm_|PNPM_)/.test(key)))

let dir = ''
let project = ''
let tarballs: string[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rdskit-consumer-'))
  tarballs = packPackages(join(dir, 'tarballs'))
  project = join(dir, 'project')
  await mkdir(project)
  await cp(join(fixture, 'src'), join(project, 'src'), { recursive: true })
  await cp(join(fixture, 'tsconfig.json'), join(project, 'tsconfig.json'))
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'rdskit-consumer', private: true, type: 'module' }, null, 2),
  )
  const specs = await Promise.all(peers.map(async (name) => `${name}@${await catalogVersion(name)}`))
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefer-offline', ...tarballs, ...specs],
    { cwd: project, env: outsideEnv() },
  )
})

afterAll(() => rm(dir, { recursive: true, force: true }))

describe('the packed packages in a project outside the workspace', () => {
  test('install with npm next to only their peers', async () => {
    const installed = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
    }
    expect(Object.keys(installed.dependencies).sort()).toEqual(
      ['@rdskit/kms-env', '@rdskit/rds', ...peers].sort(),
    )
    for (const name of ['kms-env', 'rds']) {
      const manifest = JSON.parse(
        await readFile(join(project, 'node_modules', '@rdskit', name, 'package.json'), 'utf8'),
      ) as { dependencies?: Record<string, string> }
      expect(JSON.stringify(manifest.dependencies ?? {})).not.toContain('workspace:')
    }
  })

  test('a handler typechecks against their types (strict, nodenext) and compiles', async () => {
    await expect(run(join(project, 'node_modules', '.bin', 'tsc'), ['-p', project])).resolves.toBeDefined()
  })

  test('a misused option fails the typecheck, so the types are not any', async () => {
    await writeFile(
      join(project, 'src', 'misuse.ts'),
      "import rds from '@rdskit/rds'\nexport const wrong = rds({ tls: 'verify-everything' })\n",
    )
    try {
      const failed = await run(join(project, 'node_modules', '.bin', 'tsc'), [
        '--noEmit',
        '-p',
        project,
      ]).then(
        () => undefined,
        (error: { stdout: string }) => error.stdout,
      )
      expect(failed).toMatch(/src\/misuse\.ts.*error TS2322.*verify-everything/s)
    } finally {
      await rm(join(project, 'src', 'misuse.ts'))
    }
  })

  describe('the compiled handler', () => {
    let cluster: PostgresCluster
    let kms: KmsEndpoint
    beforeAll(async () => {
      ;[cluster, kms] = await Promise.all([
        startPostgres({ throwaway: true, tls: true }),
        startKms({ aliases: ['alias/consumer'] }),
      ])
    })
    afterAll(() => Promise.all([cluster?.stop(), kms?.stop()]))

    test('decrypts its password through KMS and reads and writes a throwaway PostgreSQL', async () => {
      const password = 'consumer pw ✓'
      await cluster.createRole({ name: 'consumer', password })
      const db = await cluster.createDatabase('consumer')
      await db.sql.unsafe('create table greetings (id serial primary key, text text not null)')
      await db.sql.unsafe('alter table greetings owner to consumer')
      const caFile = join(dir, 'ca.pem')
      await writeFile(caFile, cluster.ca ?? '')

      const env = {
        ...outsideEnv(),
        AWS_REGION: kms.region,
        AWS_ENDPOINT_URL_KMS: kms.url,
        AWS_ACCESS_KEY_ID: kms.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: kms.credentials.secretAccessKey,
        AWS_LAMBDA_FUNCTION_NAME: 'consumer-fn',
      }
      const encrypt = run(
        join(project, 'node_modules', '.bin', 'rdskit-kms'),
        ['encrypt', '--key-id', 'alias/consumer', '--function-name', 'consumer-fn', '--endpoint', kms.url],
        { env },
      )
      encrypt.child.stdin?.end(password)
      const ciphertext = (await encrypt).stdout.trim()
      expect(ciphertext).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)

      const { stdout, stderr } = await run(process.execPath, [join(project, 'dist', 'invoke.js')], {
        cwd: project,
        env: {
          ...env,
          DB_HOST: cluster.host,
          DB_PORT: String(cluster.port),
          DB_NAME: db.database,
          DB_USER: 'consumer',
          DB_PASSWORD: ciphertext,
          DB_CA_FILE: caFile,
        },
      })
      expect(stderr).toBe('')
      const results = JSON.parse(stdout) as { statusCode: number; body: string }[]
      expect(results.map((result) => result.statusCode)).toEqual([200, 200])
      expect(results.map((result) => JSON.parse(result.body))).toEqual([
        { inserted: { id: 1, text: '/first' }, count: 1 },
        { inserted: { id: 2, text: '/second' }, count: 2 },
      ])
    })
  })
})
