import { App } from 'aws-cdk-lib'
import { putEsbuildOnPath } from './bundling.ts'
import { SampleApiKeyStack, SampleApiStack } from './stack.ts'

/**
 * `pnpm synth` (offline) / `pnpm exec cdk deploy --app 'node infra/app.ts' …`.
 * Context: `-c database=aurora-serverless-v2`, `-c natGateways=1`, `-c functionName=…`.
 * Environment-agnostic unless CDK_DEFAULT_ACCOUNT/REGION are set, so synth needs no AWS account; the
 * availability zones for the test account live in cdk.json context.
 */
putEsbuildOnPath()
const app = new App()
const env =
  process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
    ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
    : undefined
const keyStack = new SampleApiKeyStack(app, 'RdskitSampleApiKey', { env })
new SampleApiStack(app, 'RdskitSampleApi', {
  env,
  key: keyStack.key,
  functionName: app.node.tryGetContext('functionName'),
  database: app.node.tryGetContext('database'),
  natGateways: Number(app.node.tryGetContext('natGateways') ?? 0),
})
