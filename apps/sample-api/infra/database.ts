import {
  Duration,
  aws_ec2 as ec2,
  RemovalPolicy,
  aws_rds as rds,
  type aws_secretsmanager as secretsmanager,
  Validations,
} from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import type { SampleNetwork } from './network.ts'

export type DatabaseKind = 'instance' | 'aurora-serverless-v2'

export interface SampleDatabaseOptions {
  kind: DatabaseKind
  dbName: string
  port: number
  /** RDS instance only: a standby in a second availability zone. */
  multiAz: boolean
  deletionProtection: boolean
}

export interface SampleDatabase {
  /** The construct the migrate step waits for. */
  resource: Construct
  /** Host and port of the writer. */
  endpoint: rds.Endpoint
  /** Aurora only: the reader endpoint (load-balanced over the reader instances), for DB_READER_HOST. */
  readerEndpoint: rds.Endpoint | undefined
  /** The master user's secret, created and rotated by RDS. */
  secret: secretsmanager.ISecret
}

/** TLS only (as RDS defaults to from PostgreSQL 15); end sessions a killed function left mid-transaction. */
const parameterGroup = (scope: Construct, engine: rds.IEngine) =>
  new rds.ParameterGroup(scope, 'DatabaseParameters', {
    engine,
    parameters: { 'rds.force_ssl': '1', idle_in_transaction_session_timeout: '60000' },
  })

/**
 * What both variants share. The master password is managed by RDS in Secrets Manager (rotated every
 * 7 days, never in the template); IAM database authentication is on, so operators can connect with
 * short-lived tokens (`aws rds generate-db-auth-token`) instead of the master password.
 */
const shared = (network: SampleNetwork, options: SampleDatabaseOptions) => ({
  vpc: network.vpc,
  vpcSubnets: network.dbSubnets,
  securityGroups: [network.dbSg],
  port: options.port,
  credentials: rds.Credentials.fromUsername('postgres'),
  manageMasterUserPassword: true,
  iamAuthentication: true,
  storageEncrypted: true,
  deletionProtection: options.deletionProtection,
  removalPolicy: RemovalPolicy.SNAPSHOT,
})

/**
 * PostgreSQL in the isolated subnets: RDS for PostgreSQL (default) or Aurora Serverless v2. Production
 * settings by default (Multi-AZ, deletion protection); a trial deployment turns them off explicitly, and
 * the cdk-nag findings that follow are acknowledged here, where the choice is made.
 */
export const sampleDatabase = (
  scope: Construct,
  network: SampleNetwork,
  options: SampleDatabaseOptions,
): SampleDatabase => {
  const { resource, endpoint, readerEndpoint, secret } =
    options.kind === 'aurora-serverless-v2'
      ? auroraServerless(scope, network, options)
      : rdsInstance(scope, network, options)
  if (!options.deletionProtection)
    Validations.of(resource).acknowledge({
      id: 'AwsSolutions-RDS10',
      reason:
        'Deletion protection turned off on purpose (deletionProtection=false) for a disposable deployment.',
    })
  if (!secret)
    throw new Error('RDS did not attach the managed master secret; check manageMasterUserPassword.')
  return { resource, endpoint, readerEndpoint, secret }
}

const auroraServerless = (scope: Construct, network: SampleNetwork, options: SampleDatabaseOptions) => {
  const engine = rds.DatabaseClusterEngine.auroraPostgres({
    version: rds.AuroraPostgresEngineVersion.VER_16_6,
  })
  const cluster = new rds.DatabaseCluster(scope, 'Database', {
    engine,
    ...shared(network, options),
    defaultDatabaseName: options.dbName,
    writer: rds.ClusterInstance.serverlessV2('writer'),
    // A reader for the API's reads (DB_READER_HOST), and the failover target: it scales with the writer
    // (promotion tier 1), so a promoted reader is not under-sized; it pauses with it.
    readers: [rds.ClusterInstance.serverlessV2('reader', { scaleWithWriter: true })],
    serverlessV2MinCapacity: 0,
    serverlessV2MaxCapacity: 2,
    parameterGroup: parameterGroup(scope, engine),
  })
  return {
    resource: cluster,
    endpoint: cluster.clusterEndpoint,
    readerEndpoint: cluster.clusterReadEndpoint,
    secret: cluster.secret,
  }
}

const rdsInstance = (scope: Construct, network: SampleNetwork, options: SampleDatabaseOptions) => {
  const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 })
  const instance = new rds.DatabaseInstance(scope, 'Database', {
    engine,
    ...shared(network, options),
    databaseName: options.dbName,
    instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
    allocatedStorage: 20,
    multiAz: options.multiAz,
    publiclyAccessible: false,
    backupRetention: Duration.days(7),
    parameterGroup: parameterGroup(scope, engine),
  })
  if (!options.multiAz)
    Validations.of(instance).acknowledge({
      id: 'AwsSolutions-RDS3',
      reason:
        'Single-AZ chosen on purpose (multiAz=false) for a disposable deployment; no standby to pay for.',
    })
  return {
    resource: instance,
    endpoint: instance.instanceEndpoint,
    readerEndpoint: undefined,
    secret: instance.secret,
  }
}
