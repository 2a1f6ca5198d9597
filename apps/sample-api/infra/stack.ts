import {
  type aws_apigatewayv2 as apigw,
  CfnOutput,
  CfnParameter,
  Duration,
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  type aws_lambda_nodejs as nodejs,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { httpApi } from './api.ts'
import { entries } from './bundling.ts'
import { type DatabaseKind, sampleDatabase } from './database.ts'
import { vpcFunction } from './functions.ts'
import { migrationStep } from './migrations.ts'
import { sampleNetwork } from './network.ts'

export interface KeyStackProps extends StackProps {
  /** Alias of the customer managed key. */
  alias?: string
}

/**
 * The customer managed key, in its own stack because the password ciphertext must exist before the API
 * stack deploys: deploy this, encrypt with `rdskit-kms encrypt --key-id <KeyArn> --function-name <name>`,
 * then deploy the API stack with the ciphertext as a parameter. Kept when the stack is deleted (a key
 * deleted too early makes every ciphertext it made unreadable): schedule its deletion yourself.
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
  database?: DatabaseKind
  /** NAT gateways for general egress; 0 (default): the interface endpoints are the only way out. */
  natGateways?: number
  /** RDS instance: a standby in a second availability zone (default true; false for a cheaper trial). */
  multiAz?: boolean
  /** Refuse to delete the database (default true; false so that `cdk destroy` can remove a trial). */
  deletionProtection?: boolean
  /** The database port (default 5433: not PostgreSQL's well-known 5432, which scanners try first). */
  dbPort?: number
  /** X-Ray active tracing of the API function (the Powertools Tracer's subsegments); default true. */
  tracing?: boolean
}

const dbName = 'app'
const appUser = 'app'

/**
 * The pattern done right: a VPC with private subnets only; PostgreSQL there with rds.force_ssl; the API
 * Lambda (nodejs24.x, arm64) in the same VPC, its security group the only one allowed into the database;
 * KMS reached through an interface endpoint (no NAT); kms:Decrypt on one key only and only with the
 * function's own name as encryption context; the RDS CA trusted via NODE_EXTRA_CA_CERTS; an HTTP API in
 * front; and a migrate step (custom resource) that runs `migrate()` before the code switches.
 */
export class SampleApiStack extends Stack {
  readonly apiFunction: nodejs.NodejsFunction
  readonly migrateFunction: nodejs.NodejsFunction
  readonly httpApi: apigw.HttpApi

  constructor(scope: Construct, id: string, props: SampleApiStackProps) {
    super(scope, id, props)
    const functionName = props.functionName ?? 'rdskit-sample-api'
    const dbPort = props.dbPort ?? 5433

    const ciphertext = new CfnParameter(this, 'DbPasswordCiphertext', {
      type: 'String',
      noEcho: true,
      minLength: 1,
      allowedPattern: '^[A-Za-z0-9+/]+={0,2}$',
      description: `Base64 KMS ciphertext of the app role's password, from: rdskit-kms encrypt --key-id <KeyArn> --function-name ${functionName}`,
    }).valueAsString

    const network = sampleNetwork(this, { natGateways: props.natGateways ?? 0, dbPort })
    const database = sampleDatabase(this, network, {
      kind: props.database ?? 'instance',
      dbName,
      port: dbPort,
      multiAz: props.multiAz ?? true,
      deletionProtection: props.deletionProtection ?? true,
    })

    // kms:Decrypt on this key only, and only for ciphertexts bound to the API function's name.
    const decryptForApi = new iam.PolicyStatement({
      sid: 'DecryptDbPasswordForApiFunction',
      actions: ['kms:Decrypt'],
      resources: [props.key.keyArn],
      conditions: { StringEquals: { 'kms:EncryptionContext:LambdaFunctionName': functionName } },
    })
    const dbEnvironment = {
      DB_HOST: database.endpoint.hostname,
      DB_PORT: String(dbPort),
      DB_NAME: dbName,
      DB_USER: appUser,
      DB_PASSWORD: ciphertext,
      DB_TLS: 'verify-full',
      // The RDS CA bundle ships in the Lambda runtime but not in Node's default store.
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    }

    const api = vpcFunction(this, 'ApiFunction', network, {
      entry: entries.api,
      description: 'rdskit sample API: VPC access, its log group and kms:Decrypt of its own password',
      functionName,
      memorySize: 1024,
      timeout: Duration.seconds(15),
      environment: {
        ...dbEnvironment,
        // Aurora: reads go to the reader endpoint, writes to the cluster endpoint (DB_HOST).
        ...(database.readerEndpoint ? { DB_READER_HOST: database.readerEndpoint.hostname } : {}),
        POWERTOOLS_SERVICE_NAME: functionName,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_NAMESPACE: 'rdskit-sample',
        POWERTOOLS_TRACE_ENABLED: String(props.tracing ?? true),
        // Responses hold notes: keep them out of the trace.
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      },
      tracing: (props.tracing ?? true) ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      statements: [decryptForApi],
    })
    this.apiFunction = api.fn

    const migrate = vpcFunction(this, 'MigrateFunction', network, {
      entry: entries.migrate,
      description:
        'rdskit sample API migrate step: VPC access, its log group, the master secret, kms:Decrypt of the API password',
      memorySize: 512,
      timeout: Duration.minutes(5),
      environment: {
        ...dbEnvironment,
        API_FUNCTION_NAME: functionName,
        MASTER_SECRET_ARN: database.secret.secretArn,
      },
      statements: [decryptForApi],
      bundling: {
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => [
            `cp -r "${inputDir}/apps/sample-api/drizzle" "${outputDir}/drizzle"`,
          ],
        },
      },
    })
    database.secret.grantRead(migrate.role)
    this.migrateFunction = migrate.fn

    const migration = migrationStep(this, { migrateFunction: migrate.fn, passwordCiphertext: ciphertext })
    migration.node.addDependency(database.resource)
    migration.node.addDependency(network.vpc)
    // New code reaches traffic only after its migrations ran.
    this.apiFunction.node.addDependency(migration)

    const front = httpApi(this, { handler: this.apiFunction, throttle: { rateLimit: 50, burstLimit: 100 } })
    this.httpApi = front.api

    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.apiEndpoint })
    new CfnOutput(this, 'ApiFunctionName', { value: functionName })
    new CfnOutput(this, 'ApiLogGroupName', { value: api.logGroup.logGroupName })
    new CfnOutput(this, 'MigrateLogGroupName', { value: migrate.logGroup.logGroupName })
    new CfnOutput(this, 'ApiAccessLogGroupName', { value: front.accessLogs.logGroupName })
  }
}
