import { join } from 'node:path'
import { appDir } from '../src/local/paths.ts'

export { appDir, repoRoot } from '../src/local/paths.ts'

/**
 * ESM output needs `require` for the CommonJS parts of the AWS SDK and postgres.js dependencies that
 * esbuild leaves as dynamic requires (node: built-ins).
 */
export const requireBanner =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);"

/**
 * Node built-ins the bundled code imports, each served by `process.getBuiltinModule()` (infra/node-builtins)
 * instead of an ESM `import`. Node builds an ESM facade of a built-in by reading every export, which runs
 * its lazy getters: `node:http` loads undici (for `WebSocket`, `EventSource`…), `node:process` the report
 * module, and so on — ~15 ms of a cold start for modules nothing here uses (measured in bench/run.ts).
 * A CommonJS shim's exports are read only when used.
 */
const builtins = [
  'crypto',
  'fs',
  'fs/promises',
  'http',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'stream',
  'timers',
  'tls',
  'zlib',
]
export const builtinAliases = Object.fromEntries(
  builtins.flatMap((name) => {
    const shim = join(appDir, 'infra', 'node-builtins', `${name.replace('/', '-')}.cjs`)
    return [
      [name, shim],
      [`node:${name}`, shim],
    ]
  }),
)

/**
 * The esbuild settings shared by the CDK NodejsFunction bundling and `pnpm build` (scripts/bundle.ts),
 * so the artifact the tests import and the benchmarks measure is built like the deployed one.
 * Everything is bundled, AWS SDK v3 clients included: the runtime's copy is a moving target and loading
 * one file is faster than resolving node_modules at cold start.
 */
export const esbuildSettings = {
  format: 'esm' as const,
  platform: 'node' as const,
  target: 'node24',
  minify: true,
  sourcemap: false,
  bundle: true,
  mainFields: ['module', 'main'],
  banner: requireBanner,
  /** Optional peer of @rdskit/rds, used only with IAM auth tokens; this app uses a KMS-encrypted password. */
  external: ['@aws-sdk/rds-signer'],
  alias: {
    /** Lambda supplies credentials in the environment: the SDK's full provider chain stays out (src/aws). */
    '@aws-sdk/credential-provider-node': join(appDir, 'src', 'aws', 'lambda-credentials.ts'),
    ...builtinAliases,
  } as Record<string, string>,
}

export const entries = {
  api: join(appDir, 'src', 'handler.ts'),
  migrate: join(appDir, 'src', 'migrate-handler.ts'),
} as const

/** NodejsFunction finds esbuild on PATH when it is not resolvable from aws-cdk-lib. */
export const putEsbuildOnPath = (): void => {
  const bin = join(appDir, 'node_modules', '.bin')
  if (!(process.env.PATH ?? '').split(':').includes(bin))
    process.env.PATH = `${bin}:${process.env.PATH ?? ''}`
}
