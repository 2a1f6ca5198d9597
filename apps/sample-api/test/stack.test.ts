import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Match, type Template } from 'aws-cdk-lib/assertions'
import { beforeAll, describe, expect, test } from 'vitest'
import { apiBundleBudget } from '../scripts/bundle.ts'
import { synth } from './support/synth.ts'

let template: Template
let keyTemplate: Template
let json: string
let outdir: string
let synthMs = 0

beforeAll(() => {
  const started = performance.now()
  const result = synth()
  synthMs = performance.now() - started
  template = result.template
  keyTemplate = result.keyTemplate
  outdir = result.outdir
  json = JSON.stringify(template.toJSON())
}, 120_000)

const resources = (type: string) => Object.entries(template.findResources(type))

/** The function whose FunctionName is `name` (the API) or whose logical id starts with `prefix`. */
const fn = (prefix: string) => {
  const found = resources('AWS::Lambda::Function').find(([id]) => id.startsWith(prefix))
  if (!found) throw new Error(`no function ${prefix}`)
  return found
}

describe('the API function', () => {
  test('runs nodejs24.x on arm64 in the VPC with the app security group', () => {
    const [, api] = fn('ApiFunction')
    expect(api.Properties).toMatchObject({
      FunctionName: 'rdskit-sample-api',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
    })
    expect(api.Properties.VpcConfig.SecurityGroupIds).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^AppSecurityGroup/), 'GroupId'] },
    ])
    expect(api.Properties.VpcConfig.SubnetIds.length).toBe(2)
    console.info(`synth of both stacks with two bundled functions: ${synthMs.toFixed(0)} ms`)
  })

  test('gets the database settings, the ciphertext parameter and the RDS CA through its environment', () => {
    const [, api] = fn('ApiFunction')
    expect(api.Properties.Environment.Variables).toMatchObject({
      DB_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^Database/), 'Endpoint.Address'] },
      DB_PORT: '5432',
      DB_NAME: 'app',
      DB_USER: 'app',
      DB_PASSWORD: { Ref: 'DbPasswordCiphertext' },
      DB_TLS: 'verify-full',
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    })
  })

  test('runs Powertools from its environment with X-Ray active tracing, and never traces responses', () => {
    const [, api] = fn('ApiFunction')
    expect(api.Properties.Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'rdskit-sample-api',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: 'rdskit-sample',
      POWERTOOLS_TRACE_ENABLED: 'true',
      POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
    })
    expect(api.Properties.TracingConfig).toEqual({ Mode: 'Active' })
  })

  test('the ciphertext parameter is NoEcho and must look like base64', () => {
    template.hasParameter('DbPasswordCiphertext', {
      Type: 'String',
      NoEcho: true,
      AllowedPattern: '^[A-Za-z0-9+/]+={0,2}$',
    })
  })

  test('its bundle is ESM with the createRequire banner, AWS SDK included, within its size budget', () => {
    const [, api] = fn('ApiFunction')
    const assetHash = (api.Properties.Code.S3Key as string).replace('.zip', '')
    const file = join(outdir, `asset.${assetHash}`, 'index.mjs')
    const code = readFileSync(file, 'utf8')
    expect(
      code.startsWith(
        "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
      ),
    ).toBe(true)
    expect(code).toContain('TrentService')
    expect(statSync(file).size).toBeLessThanOrEqual(apiBundleBudget)
  })
})

describe('IAM', () => {
  const roleOf = (fnPrefix: string) => {
    const [, f] = fn(fnPrefix)
    const roleId = f.Properties.Role['Fn::GetAtt'][0] as string
    return template.toJSON().Resources[roleId]
  }

  test.each(['ApiFunction', 'MigrateFunction'])(
    '%s has AWSLambdaVPCAccessExecutionRole and kms:Decrypt on the key only, for the API function’s name',
    (prefix) => {
      const role = roleOf(prefix)
      expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain(
        ':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
      )
      expect(role.Properties.ManagedPolicyArns).toHaveLength(1)
      const statements = role.Properties.Policies.flatMap(
        (p: { PolicyDocument: { Statement: unknown[] } }) => p.PolicyDocument.Statement,
      )
      expect(statements).toEqual([
        {
          Sid: 'DecryptDbPasswordForApiFunction',
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: { 'Fn::ImportValue': expect.stringMatching(/^Key:ExportsOutputFnGetAttKey[0-9A-F]+Arn/) },
          Condition: { StringEquals: { 'kms:EncryptionContext:LambdaFunctionName': 'rdskit-sample-api' } },
        },
      ])
    },
  )

  test('only the migrate function may read the master secret, and only that secret', () => {
    const policies = resources('AWS::IAM::Policy')
    const statements = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
    const secretReads = statements.filter((s: { Action: string | string[] }) =>
      [s.Action].flat().includes('secretsmanager:GetSecretValue'),
    )
    expect(secretReads).toHaveLength(1)
    expect(secretReads[0].Resource).toEqual({ Ref: expect.stringMatching(/^DatabaseSecret/) })
    const [, migrate] = fn('MigrateFunction')
    const attached = policies.filter(([, p]) =>
      JSON.stringify(p.Properties.Roles).includes(migrate.Properties.Role['Fn::GetAtt'][0]),
    )
    expect(attached).toHaveLength(1)
    for (const s of statements) {
      expect([s.Action].flat().some((a: string) => a === '*' || a.endsWith(':*'))).toBe(false)
    }
  })
})

describe('network', () => {
  test('the database admits PostgreSQL from the app security group and nothing else', () => {
    const [dbSgId] =
      resources('AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('DatabaseSecurityGroup')) ?? []
    const ingress = resources('AWS::EC2::SecurityGroupIngress').filter(
      ([, r]) => r.Properties.GroupId['Fn::GetAtt']?.[0] === dbSgId,
    )
    expect(ingress).toHaveLength(1)
    expect(ingress[0]?.[1].Properties).toMatchObject({
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^AppSecurityGroup/), 'GroupId'] },
    })
    const dbSg = template.toJSON().Resources[dbSgId as string]
    expect(dbSg.Properties.SecurityGroupIngress).toBeUndefined()
  })

  test('a KMS interface endpoint with private DNS, reachable on 443 from the app security group only', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      ServiceName: 'com.amazonaws.us-east-1.kms',
      VpcEndpointType: 'Interface',
      PrivateDnsEnabled: true,
    })
    const [endpointSgId] =
      resources('AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('EndpointSecurityGroup')) ?? []
    const ingress = resources('AWS::EC2::SecurityGroupIngress').filter(
      ([, r]) => r.Properties.GroupId['Fn::GetAtt']?.[0] === endpointSgId,
    )
    expect(
      ingress.map(([, r]) => [r.Properties.FromPort, r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]]),
    ).toEqual([[443, expect.stringMatching(/^AppSecurityGroup/)]])
  })

  test('the app security group may only reach the database and the endpoints', () => {
    const egress = resources('AWS::EC2::SecurityGroupEgress').map(([, r]) => r.Properties)
    expect(
      egress
        .map((e) => [e.FromPort, e.DestinationSecurityGroupId['Fn::GetAtt'][0].replace(/[0-9A-F]{8}$/, '')])
        .sort(),
    ).toEqual([
      [443, 'EndpointSecurityGroup'],
      [5432, 'DatabaseSecurityGroup'],
    ])
  })

  test('no NAT gateway and only private subnets by default', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0)
    template.resourceCountIs('AWS::EC2::InternetGateway', 0)
    for (const [, subnet] of resources('AWS::EC2::Subnet'))
      expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false)
  })
})

describe('database', () => {
  test('PostgreSQL in the isolated subnets, encrypted, not public, with rds.force_ssl = 1', () => {
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      StorageEncrypted: true,
      PubliclyAccessible: false,
      DBName: 'app',
    })
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Parameters: Match.objectLike({ 'rds.force_ssl': '1' }),
    })
  })

  test('Aurora Serverless v2 is selectable and keeps rds.force_ssl', () => {
    const aurora = synth({ database: 'aurora-serverless-v2' }).template
    aurora.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2 },
    })
    aurora.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' })
    aurora.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
      Parameters: Match.objectLike({ 'rds.force_ssl': '1' }),
    })
  }, 120_000)
})

describe('deployment', () => {
  test('an HTTP API (payload 2.0) fronts the function on $default', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' })
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    })
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' })
  })

  test('a custom resource runs the migrate function, re-run when migrations change, before the API updates', () => {
    const [id, migration] = resources('Custom::RdskitMigrations')[0] ?? ['', { Properties: {} }]
    expect(migration.Properties.migrations).toMatch(/^[0-9a-f]{64}$/)
    const [apiId] = fn('ApiFunction')
    expect(template.toJSON().Resources[apiId].DependsOn).toContain(id)
  })

  test('the customer managed key rotates and is kept on stack deletion', () => {
    keyTemplate.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true }),
      DeletionPolicy: 'Retain',
    })
  })

  test('no plaintext password anywhere: the master password is a Secrets Manager dynamic reference', () => {
    const [, db] = resources('AWS::RDS::DBInstance')[0] ?? ['', { Properties: {} }]
    expect(JSON.stringify(db.Properties.MasterUserPassword)).toContain('{{resolve:secretsmanager:')
    expect(json).not.toMatch(/"(Master)?(User)?Password"\s*:\s*"[^{]/i)
    for (const [, f] of resources('AWS::Lambda::Function')) {
      for (const [name, value] of Object.entries(f.Properties.Environment?.Variables ?? {})) {
        if (/PASSWORD|SECRET/i.test(name)) expect(typeof value).not.toBe('string')
      }
    }
  })
})
