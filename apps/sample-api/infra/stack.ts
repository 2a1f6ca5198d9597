import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  aws_apigatewayv2 as apigw,
  aws_apigatewayv2_integrations as apigwIntegrations,
  CfnOutput,
  CfnParameter,
  CustomResource,
  custom_resources as cr,
  Duration,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  aws_lambda_nodejs as nodejs,
  RemovalPolicy,
  aws_rds as rds,
  Stack,
  type StackProps,
} from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { appDir, entries, esbuildSettings, repoRoot } from './bundling.ts'

export interface KeyStackProps extends StackProps {
  /** Alias of the customer managed key. */
  alias?: string
}

/**
 * The customer managed key, in its own stack because the password ciphertext must exist before the API
 * stack deploys: deploy this, encrypt with `rdskit-kms encrypt --key-id <KeyArn> --function-name <name>`,
 * then deploy the API stack with the ciphertext as a parameter.
 */
export class SampleApiKeyStack extends Stack {
  readonly key: kms.Key

  constructor(scope: Construct, id: string, props: KeyStackProps = {}) {
    super(scope, id, props)
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the rdskit sample API database password (Lambda encryption helpers pattern)',
      enableKeyRotation: true,
      alias: props.alias ?? 'alias/rdskit-sample-api',
      removalPolicy: RemovalPolicy.RETAIN,
    })
    new CfnOutput(this, 'KeyArn', { value: this.key.keyArn })
  }
}

export interface SampleApiStackProps extends StackProps {
  key: kms.IKey
  /** The API function's name: the encryption context of its ciphertext, so it is fixed up front. */
  functionName?: string
  /** `instance` (RDS for PostgreSQL, default) or `aurora-serverless-v2`. */
  database?: 'instance' | 'aurora-serverless-v2'
  /** NAT gateways for general egress; 0 (default): the interface endpoints are the only way out. */
  natGateways?: number
  /** X-Ray active tracing of the API function (the Powertools Tracer's subsegments); default true. */
  tracing?: boolean
}

const dbName = 'app'
const appUser = 'app'

/** Changes when any migration file changes, so CloudFormation re-runs the migrate step exactly then. */
const migrationsHash = () => {
  const dir = join(appDir, 'drizzle')
  const hash = createHash('sha256')
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = join(d, entry.name)
      if (entry.isDirectory()) walk(p)
      else hash.update(entry.name).update(readFileSync(p))
    }
  }
  walk(dir)
  return hash.digest('hex')
}

/**
 * The pattern done right: a VPC with private subnets only; PostgreSQL there with rds.force_ssl; the API
 * Lambda (nodejs24.x, arm64) in the same VPC, its security group the only one allowed into the database
 * on 5432; KMS reached through an interface endpoint (no NAT); kms:Decrypt on one key only and only with
 * the function's own name as encryption context; the RDS CA trusted via NODE_EXTRA_CA_CERTS; an HTTP
 * API in front; and a migrate step (custom resource) that runs `migrate()` before the code switches.
 */
export class SampleApiStack extends Stack {
  readonly apiFunction: nodejs.NodejsFunction
  readonly migrateFunction: nodejs.NodejsFunction
  readonly httpApi: apigw.HttpApi

  constructor(scope: Construct, id: string, props: SampleApiStackProps) {
    super(scope, id, props)
    const functionName = props.functionName ?? 'rdskit-sample-api'
    const natGateways = props.natGateways ?? 0

    const ciphertext = new CfnParameter(this, 'DbPasswordCiphertext', {
      type: 'String',
      noEcho: true,
      minLength: 1,
      allowedPattern: '^[A-Za-z0-9+/]+={0,2}$',
      description: `Base64 KMS ciphertext of the app role's password, from: rdskit-kms encrypt --key-id <KeyArn> --function-name ${functionName}`,
    })

    const appSubnetType =
      natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED
    const appSubnets: ec2.SubnetSelection = { subnetGroupName: 'app' }
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways,
      subnetConfiguration: [
        ...(natGateways > 0 ? [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }] : []),
        { name: 'app', subnetType: appSubnetType, cidrMask: 22 },
        { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    })

    // One security group for the functions; the database and the endpoints admit it and nothing else.
    const appSg = new ec2.SecurityGroup(this, 'AppSecurityGroup', {
      vpc,
      description: 'rdskit sample API functions',
      allowAllOutbound: natGateways > 0,
    })
    const dbSg = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc,
      description: 'rdskit sample API database: PostgreSQL from the app security group only',
      allowAllOutbound: false,
    })
    const endpointSg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'Interface endpoints: HTTPS from the app security group only',
      allowAllOutbound: false,
    })
    dbSg.addIngressRule(appSg, ec2.Port.tcp(5432), 'PostgreSQL from the app functions')
    endpointSg.addIngressRule(appSg, ec2.Port.tcp(443), 'AWS APIs from the app functions')
    if (natGateways === 0) {
      appSg.addEgressRule(dbSg, ec2.Port.tcp(5432), 'to PostgreSQL')
      appSg.addEgressRule(endpointSg, ec2.Port.tcp(443), 'to the KMS and Secrets Manager endpoints')
    }

    // Without them a Decrypt from inside the VPC hangs until the Lambda timeout.
    const endpointOptions = {
      vpc,
      subnets: appSubnets,
      securityGroups: [endpointSg],
      privateDnsEnabled: true,
      open: false,
    }
    vpc.addInterfaceEndpoint('KmsEndpoint', {
      service: ec2.InterfaceVpcEndpointAwsService.KMS,
      ...endpointOptions,
    })
    vpc.addInterfaceEndpoint('SecretsManagerEndpoint', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      ...endpointOptions,
    })

    const shared = {
      vpc,
      vpcSubnets: { subnetGroupName: 'db' },
      securityGroups: [dbSg],
      credentials: rds.Credentials.fromGeneratedSecret('postgres'),
      storageEncrypted: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    }
    // TLS only (as RDS defaults to from PostgreSQL 15); end sessions a killed function left mid-transaction.
    const parameterGroup = (engine: rds.IEngine) =>
      new rds.ParameterGroup(this, 'DatabaseParameters', {
        engine,
        parameters: { 'rds.force_ssl': '1', idle_in_transaction_session_timeout: '60000' },
      })
    let endpoint: rds.Endpoint
    let secret: { secretArn: string; grantRead(grantee: iam.IGrantable): iam.Grant }
    let database: Construct
    if (props.database === 'aurora-serverless-v2') {
      const engine = rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_16_6,
      })
      const cluster = new rds.DatabaseCluster(this, 'Database', {
        engine,
        ...shared,
        defaultDatabaseName: dbName,
        writer: rds.ClusterInstance.serverlessV2('writer'),
        serverlessV2MinCapacity: 0,
        serverlessV2MaxCapacity: 2,
        parameterGroup: parameterGroup(engine),
      })
      endpoint = cluster.clusterEndpoint
      secret = cluster.secret as NonNullable<typeof cluster.secret>
      database = cluster
    } else {
      const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 })
      const instance = new rds.DatabaseInstance(this, 'Database', {
        engine,
        ...shared,
        databaseName: dbName,
        instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
        allocatedStorage: 20,
        multiAz: false,
        publiclyAccessible: false,
        backupRetention: Duration.days(7),
        parameterGroup: parameterGroup(engine),
      })
      endpoint = instance.instanceEndpoint
      secret = instance.secret as NonNullable<typeof instance.secret>
      database = instance
    }

    // kms:Decrypt on this key only, and only for ciphertexts bound to the API function's name.
    const decryptForApi = new iam.PolicyStatement({
      sid: 'DecryptDbPasswordForApiFunction',
      actions: ['kms:Decrypt'],
      resources: [props.key.keyArn],
      conditions: { StringEquals: { 'kms:EncryptionContext:LambdaFunctionName': functionName } },
    })
    const lambdaRole = (roleId: string, description: string) =>
      new iam.Role(this, roleId, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description,
        managedPolicies: [
          iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
        ],
        inlinePolicies: { decrypt: new iam.PolicyDocument({ statements: [decryptForApi] }) },
      })

    const bundling = (extra: Partial<nodejs.BundlingOptions> = {}): nodejs.BundlingOptions => ({
      forceDockerBundling: false,
      format: nodejs.OutputFormat.ESM,
      target: esbuildSettings.target,
      minify: esbuildSettings.minify,
      sourceMap: esbuildSettings.sourcemap,
      mainFields: esbuildSettings.mainFields,
      banner: esbuildSettings.banner,
      bundleAwsSDK: true,
      externalModules: esbuildSettings.external,
      esbuildArgs: Object.fromEntries(
        Object.entries(esbuildSettings.alias).map(([from, to]) => [`--alias:${from}`, to]),
      ),
      ...extra,
    })
    const common = {
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'handler',
      vpc,
      vpcSubnets: appSubnets,
      securityGroups: [appSg],
      projectRoot: repoRoot,
      depsLockFilePath: join(repoRoot, 'pnpm-lock.yaml'),
    }
    const dbEnvironment = {
      DB_HOST: endpoint.hostname,
      DB_PORT: String(5432),
      DB_NAME: dbName,
      DB_USER: appUser,
      DB_PASSWORD: ciphertext.valueAsString,
      DB_TLS: 'verify-full',
      // The RDS CA bundle ships in the Lambda runtime but not in Node's default store.
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    }

    this.apiFunction = new nodejs.NodejsFunction(this, 'ApiFunction', {
      ...common,
      functionName,
      entry: entries.api,
      role: lambdaRole(
        'ApiFunctionRole',
        'rdskit sample API: VPC access and kms:Decrypt of its own password',
      ),
      memorySize: 1024,
      timeout: Duration.seconds(15),
      environment: {
        ...dbEnvironment,
        POWERTOOLS_SERVICE_NAME: functionName,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_NAMESPACE: 'rdskit-sample',
        POWERTOOLS_TRACE_ENABLED: String(props.tracing ?? true),
        // Responses hold notes: keep them out of the trace.
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      },
      tracing: (props.tracing ?? true) ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      bundling: bundling(),
    })

    const migrateRole = lambdaRole(
      'MigrateFunctionRole',
      'rdskit sample API migrate step: VPC access, the master secret, kms:Decrypt of the API password',
    )
    secret.grantRead(migrateRole)
    this.migrateFunction = new nodejs.NodejsFunction(this, 'MigrateFunction', {
      ...common,
      entry: entries.migrate,
      role: migrateRole,
      memorySize: 512,
      timeout: Duration.minutes(5),
      environment: { ...dbEnvironment, API_FUNCTION_NAME: functionName, MASTER_SECRET_ARN: secret.secretArn },
      bundling: bundling({
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => [
            `cp -r "${inputDir}/apps/sample-api/drizzle" "${outputDir}/drizzle"`,
          ],
        },
      }),
    })

    const provider = new cr.Provider(this, 'MigrateProvider', { onEventHandler: this.migrateFunction })
    const migration = new CustomResource(this, 'Migrations', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::RdskitMigrations',
      properties: { migrations: migrationsHash(), passwordCiphertext: ciphertext.valueAsString },
    })
    migration.node.addDependency(database)
    migration.node.addDependency(vpc)
    // New code reaches traffic only after its migrations ran.
    this.apiFunction.node.addDependency(migration)

    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      description: 'rdskit sample notes API',
      defaultIntegration: new apigwIntegrations.HttpLambdaIntegration('ApiIntegration', this.apiFunction, {
        payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
      }),
    })

    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.apiEndpoint })
    new CfnOutput(this, 'ApiFunctionName', { value: functionName })
  }
}
