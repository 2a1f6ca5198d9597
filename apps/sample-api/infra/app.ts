import { App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { putEsbuildOnPath } from './bundling.ts'
import { SampleApiKeyStack, SampleApiStack } from './stack.ts'

/**
 * `pnpm synth` (offline) / `pnpm exec cdk deploy …` (see README.md, "Deploy to AWS").
 * Context: `-c database=aurora-serverless-v2`, `-c natGateways=1`, `-c functionName=…`,
 * `-c multiAz=false` and `-c deletionProtection=false` (a trial deployment), `-c dbPort=…`.
 * Environment-agnostic unless CDK_DEFAULT_ACCOUNT/REGION are set, so synth needs no AWS account; the
 * availability zones for the test account live in cdk.json context.
 * cdk-nag's AwsSolutions checks run on every synth: a finding fails it.
 */
putEsbuildOnPath()
const app = new App()
Validations.of(app).addPlugins(new AwsSolutionsChecks(app))

const context = (key: string): string | undefined => app.node.tryGetContext(key)?.toString()
const flag = (key: string): boolean | undefined => {
  const value = context(key)
  if (value === undefined) return undefined
  if (value !== 'true' && value !== 'false') throw new Error(`-c ${key}=${value}: use true or false.`)
  return value === 'true'
}
const number = (key: string): number | undefined => {
  const value = context(key)
  if (value === undefined) return undefined
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`-c ${key}=${value}: use a whole number.`)
  return parsed
}

const env =
  process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
    ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
    : undefined
const keyStack = new SampleApiKeyStack(app, 'RdskitSampleApiKey', { env })
const database = context('database')
if (database !== undefined && database !== 'instance' && database !== 'aurora-serverless-v2')
  throw new Error(`-c database=${database}: use instance or aurora-serverless-v2.`)
new SampleApiStack(app, 'RdskitSampleApi', {
  env,
  key: keyStack.key,
  functionName: context('functionName'),
  database,
  natGateways: number('natGateways'),
  multiAz: flag('multiAz'),
  deletionProtection: flag('deletionProtection'),
  dbPort: number('dbPort'),
})
