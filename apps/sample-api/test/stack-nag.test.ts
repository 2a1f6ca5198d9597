import { rmSync } from 'node:fs'
import { App, aws_ec2 as ec2, Stack, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import type { IConstruct } from 'constructs'
import { afterAll, describe, expect, test } from 'vitest'
import type { SampleApiStackProps } from '../infra/stack.ts'
import { synth } from './support/synth.ts'

const outdirs: string[] = []
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true })
})

/** cdk-nag's AwsSolutions pack over the synthesized tree: every unacknowledged error and warning. */
const findings = (scope: IConstruct) =>
  new AwsSolutionsChecks()
    .validateScope(scope)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`),
    )

/** Every AwsSolutions acknowledgment in the tree (CDK makes some of its own for other validators). */
const acknowledgments = (scope: IConstruct) =>
  scope.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) =>
          Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
            rule: id.replace(/^annotation::/i, ''),
            path: c.node.path,
            reason,
          })),
        ),
    )
    .filter((a) => a.rule.startsWith('AwsSolutions-'))

const synthesize = (props: Partial<SampleApiStackProps>) => {
  const result = synth(props, { bundle: false })
  outdirs.push(result.outdir)
  return result
}

const trial = { multiAz: false, deletionProtection: false }
const variants: [string, Partial<SampleApiStackProps>][] = [
  ['RDS instance', { database: 'instance' }],
  ['Aurora Serverless v2', { database: 'aurora-serverless-v2' }],
  ['RDS instance, trial settings, NAT gateway', { database: 'instance', natGateways: 1, ...trial }],
  ['Aurora Serverless v2, trial settings', { database: 'aurora-serverless-v2', ...trial }],
]

// A synth takes seconds, more on a loaded machine: the default 30 s is for tests that wait on I/O.
describe('cdk-nag AwsSolutions', { timeout: 120_000 }, () => {
  test('the checks run on this tree: a VPC without flow logs is reported', () => {
    const app = new App()
    new ec2.Vpc(new Stack(app, 'Scratch'), 'Vpc', { natGateways: 0 })
    expect(findings(app)).toContain('error AwsSolutions-VPC7 at Scratch/Vpc/Resource')
  })

  test.each(variants)('%s: no unacknowledged finding, error or warning', (_, props) => {
    const { app } = synthesize(props)
    expect(findings(app)).toEqual([])
  })

  test('production defaults acknowledge only the missing authorizer and the VPC network-interface wildcard', () => {
    for (const database of ['instance', 'aurora-serverless-v2'] as const) {
      const { app } = synthesize({ database })
      const acknowledged = acknowledgments(app)
      expect(acknowledged.map((a) => `${a.rule} at ${a.path}`).sort()).toEqual([
        'AwsSolutions-APIG4 at Api/HttpApi',
        'AwsSolutions-IAM5[Resource::*] at Api/ApiFunctionRole',
        'AwsSolutions-IAM5[Resource::*] at Api/MigrateFunctionRole',
      ])
      for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(40)
    }
  })

  test('turning Multi-AZ or deletion protection off is acknowledged where it is chosen, naming the setting', () => {
    const { app } = synthesize({ database: 'instance', ...trial })
    const byRule = Object.fromEntries(acknowledgments(app).map((a) => [a.rule, a]))
    expect(byRule['AwsSolutions-RDS3']).toMatchObject({ path: 'Api/Database', reason: /multiAz=false/ })
    expect(byRule['AwsSolutions-RDS10']).toMatchObject({
      path: 'Api/Database',
      reason: /deletionProtection=false/,
    })
  })
})
