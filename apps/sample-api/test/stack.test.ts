import { Match, type Template } from 'aws-cdk-lib/assertions'
import { beforeAll, describe, expect, test } from 'vitest'
import { synth } from './support/synth.ts'

// The templates only: bundling the functions (seconds of esbuild, minutes on a loaded machine) changes
// nothing here. The bundle CDK deploys is built and checked by bundle.test.ts.
let template: Template
let keyTemplate: Template
let json: string
let synthMs = 0

beforeAll(() => {
  const started = performance.now()
  const result = synth({}, { bundle: false })
  synthMs = performance.now() - started
  template = result.template
  keyTemplate = result.keyTemplate
  json = JSON.stringify(template.toJSON())
}, 120_000)

/** The Aurora variant, synthesized once for the tests that look at it. */
let aurora: Template | undefined
const auroraTemplate = () => {
  aurora ??= synth({ database: 'aurora-serverless-v2' }, { bundle: false }).template
  return aurora
}

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
    console.info(`synth of both stacks, functions not bundled: ${synthMs.toFixed(0)} ms`)
  })

  test('gets the database settings, the ciphertext parameter and the RDS CA through its environment', () => {
    const [, api] = fn('ApiFunction')
    expect(api.Properties.Environment.Variables).toMatchObject({
      DB_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^Database/), 'Endpoint.Address'] },
      DB_PORT: '5433',
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
})

describe('IAM', () => {
  const roleOf = (fnPrefix: string) => {
    const [, f] = fn(fnPrefix)
    const roleId = f.Properties.Role['Fn::GetAtt'][0] as string
    return template.toJSON().Resources[roleId]
  }

  test.each(['ApiFunction', 'MigrateFunction'])(
    '%s manages its network interfaces, writes its own log group and may kms:Decrypt the API password only',
    (prefix) => {
      const [, f] = fn(prefix)
      const role = roleOf(prefix)
      expect(role.Properties.ManagedPolicyArns).toBeUndefined()
      const statements = role.Properties.Policies.flatMap(
        (p: { PolicyDocument: { Statement: unknown[] } }) => p.PolicyDocument.Statement,
      )
      expect(statements).toEqual([
        {
          Sid: 'ManageVpcNetworkInterfaces',
          Effect: 'Allow',
          Action: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          Resource: '*',
        },
        {
          Sid: 'WriteOwnLogGroup',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [f.Properties.LoggingConfig.LogGroup.Ref, 'Arn'] },
        },
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

  test('the migrate provider may invoke the migrate function and write its log group, nothing more', () => {
    const [, provider] =
      resources('AWS::Lambda::Function').find(([id]) => id.startsWith('MigrateProviderframeworkonEvent')) ??
      []
    const roleId = provider?.Properties.Role['Fn::GetAtt'][0] as string
    const role = template.toJSON().Resources[roleId]
    expect(role.Properties.ManagedPolicyArns).toBeUndefined()
    const [migrateId] = fn('MigrateFunction')
    expect(role.Properties.Policies[0].PolicyDocument.Statement).toEqual([
      {
        Sid: 'InvokeMigrateFunction',
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction', 'lambda:GetFunction'],
        Resource: { 'Fn::GetAtt': [migrateId, 'Arn'] },
      },
      expect.objectContaining({ Sid: 'WriteOwnLogGroup' }),
    ])
    const attached = resources('AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p).includes(roleId))
    expect(attached).toEqual([])
  })

  test('only the migrate function may read the master secret, and only that secret', () => {
    const policies = resources('AWS::IAM::Policy')
    const statements = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
    const secretReads = statements.filter((s: { Action: string | string[] }) =>
      [s.Action].flat().includes('secretsmanager:GetSecretValue'),
    )
    expect(secretReads).toHaveLength(1)
    expect(secretReads[0].Resource).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^Database/), 'MasterUserSecret.SecretArn'],
    })
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
      FromPort: 5433,
      ToPort: 5433,
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
      [5433, 'DatabaseSecurityGroup'],
    ])
  })

  test('VPC flow logs record all traffic into a log group kept for a month', () => {
    const [logGroupId, logGroup] =
      resources('AWS::Logs::LogGroup').find(([id]) => id.startsWith('FlowLogGroup')) ?? []
    expect(logGroup?.Properties.RetentionInDays).toBe(30)
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
      LogGroupName: { Ref: logGroupId },
    })
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
      Port: '5433',
    })
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Parameters: Match.objectLike({ 'rds.force_ssl': '1' }),
    })
  })

  test('production defaults: Multi-AZ, deletion protection, IAM auth, a master password RDS manages and rotates', () => {
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      MultiAZ: true,
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      ManageMasterUserPassword: true,
      MasterUsername: 'postgres',
    })
    template.resourceCountIs('AWS::SecretsManager::Secret', 0)
  })

  test('a trial turns Multi-AZ and deletion protection off', () => {
    const trial = synth({ multiAz: false, deletionProtection: false }, { bundle: false })
    trial.template.hasResourceProperties('AWS::RDS::DBInstance', {
      MultiAZ: false,
      DeletionProtection: false,
    })
  }, 120_000)

  test('Aurora Serverless v2 is selectable and keeps rds.force_ssl', () => {
    const aurora = auroraTemplate()
    aurora.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2 },
      Port: 5433,
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      ManageMasterUserPassword: true,
    })
    aurora.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' })
    aurora.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
      Parameters: Match.objectLike({ 'rds.force_ssl': '1' }),
    })
  }, 120_000)

  test('Aurora gets a serverless v2 reader, and the API function reads through the reader endpoint', () => {
    const aurora = auroraTemplate()
    const instances = Object.values(aurora.findResources('AWS::RDS::DBInstance'))
    expect(instances).toHaveLength(2)
    for (const instance of instances) {
      expect(instance.Properties).toMatchObject({
        DBInstanceClass: 'db.serverless',
        DBClusterIdentifier: { Ref: expect.stringMatching(/^Database/) },
      })
    }
    // The reader scales with the writer: promotion tier 0 or 1.
    expect(instances.map((instance) => instance.Properties.PromotionTier).sort()).toEqual([0, 1])
    const [, api] = Object.entries(aurora.findResources('AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('ApiFunction'),
    ) as [string, { Properties: { Environment: { Variables: Record<string, unknown> } } }]
    expect(api.Properties.Environment.Variables).toMatchObject({
      DB_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^Database/), 'Endpoint.Address'] },
      DB_READER_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^Database/), 'ReadEndpoint.Address'] },
    })
  }, 120_000)

  test('an RDS instance has no reader endpoint: the API function gets no DB_READER_HOST', () => {
    const [, api] = fn('ApiFunction')
    expect(api.Properties.Environment.Variables).not.toHaveProperty('DB_READER_HOST')
  })
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

  test('the $default stage throttles and writes a JSON access log line per request', () => {
    const [, stage] = resources('AWS::ApiGatewayV2::Stage')[0] ?? ['', { Properties: {} }]
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    })
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format)
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status' })
    expect(stage.Properties.AccessLogSettings.DestinationArn['Fn::GetAtt'][0]).toMatch(/^ApiAccessLogs/)
  })

  test('the outputs name the API URL, the function and the log groups to tail', () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual([
      'ApiAccessLogGroupName',
      'ApiFunctionName',
      'ApiLogGroupName',
      'ApiUrl',
      'MigrateLogGroupName',
    ])
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

  test('no password anywhere in the template: RDS keeps the master password, the app password is a ciphertext', () => {
    const [, db] = resources('AWS::RDS::DBInstance')[0] ?? ['', { Properties: {} }]
    expect(db.Properties.MasterUserPassword).toBeUndefined()
    expect(json).not.toMatch(/"(Master)?(User)?Password"\s*:\s*"[^{]/i)
    for (const [, f] of resources('AWS::Lambda::Function')) {
      for (const [name, value] of Object.entries(f.Properties.Environment?.Variables ?? {})) {
        if (/PASSWORD|SECRET/i.test(name)) expect(typeof value).not.toBe('string')
      }
    }
  })
})
