import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { afterAll } from 'vitest'
import { putEsbuildOnPath } from '../../infra/bundling.ts'
import { SampleApiKeyStack, SampleApiStack, type SampleApiStackProps } from '../../infra/stack.ts'

export const testEnv = { account: '123456789012', region: 'us-east-1' }

// Every cloud assembly this test file synthesized (bundles included) goes when the file is done.
const outdirs: string[] = []
afterAll(() => {
  for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true })
})

/**
 * Synthesizes both stacks offline (availability zones given as context, NodejsFunction bundling with the
 * local esbuild, no Docker) into a temporary cloud assembly. `bundle: false` skips bundling the functions
 * (CDK's `aws:cdk:bundling-stacks` context) when only the template matters.
 */
export const synth = (
  props: Partial<SampleApiStackProps> = {},
  { bundle = true }: { bundle?: boolean } = {},
) => {
  putEsbuildOnPath()
  const outdir = mkdtempSync(join(tmpdir(), 'rdskit-cdk-'))
  outdirs.push(outdir)
  const app = new App({
    outdir,
    context: {
      ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      [`availability-zones:account=${testEnv.account}:region=${testEnv.region}`]: [
        'us-east-1a',
        'us-east-1b',
        'us-east-1c',
      ],
    },
  })
  const keyStack = new SampleApiKeyStack(app, 'Key', { env: testEnv })
  const stack = new SampleApiStack(app, 'Api', { env: testEnv, key: keyStack.key, ...props })
  const assembly = app.synth()
  return {
    app,
    outdir,
    assembly,
    stack,
    keyStack,
    template: Template.fromStack(stack),
    keyTemplate: Template.fromStack(keyStack),
  }
}
