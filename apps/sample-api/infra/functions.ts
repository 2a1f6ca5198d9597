import { join } from 'node:path'
import {
  type Duration,
  aws_iam as iam,
  aws_lambda as lambda,
  type aws_logs as logs,
  aws_lambda_nodejs as nodejs,
  Validations,
} from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { esbuildSettings, repoRoot } from './bundling.ts'
import { ownedLogGroup, writeLogs } from './logs.ts'
import type { SampleNetwork } from './network.ts'

/**
 * The EC2 actions Lambda performs with the function's role to attach it to the VPC, as listed by
 * AWSLambdaVPCAccessExecutionRole (without its logs:* on every log group).
 */
const vpcAccess = new iam.PolicyStatement({
  sid: 'ManageVpcNetworkInterfaces',
  actions: [
    'ec2:CreateNetworkInterface',
    'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSubnets',
    'ec2:DeleteNetworkInterface',
    'ec2:AssignPrivateIpAddresses',
    'ec2:UnassignPrivateIpAddresses',
  ],
  resources: ['*'],
})

/**
 * An execution role for a function in the VPC: its network interfaces, its own log group, and the extra
 * statements given. Inline, so it lives exactly as long as the role: the function can still remove its
 * network interfaces while the stack is being deleted.
 */
export const vpcFunctionRole = (
  scope: Construct,
  id: string,
  {
    description,
    logGroup,
    statements,
  }: { description: string; logGroup: logs.ILogGroup; statements: iam.PolicyStatement[] },
): iam.Role => {
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description,
    inlinePolicies: {
      execution: new iam.PolicyDocument({ statements: [vpcAccess, writeLogs(logGroup), ...statements] }),
    },
  })
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Lambda needs the EC2 network-interface actions on "*" to attach the function to the VPC: ' +
      'ec2:DescribeNetworkInterfaces has no resource-level permissions (the same statement as AWSLambdaVPCAccessExecutionRole). ' +
      'With active tracing, CDK adds xray:PutTraceSegments and xray:PutTelemetryRecords, which also take only "*".',
  })
  return role
}

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

export interface VpcFunctionProps {
  entry: string
  description: string
  functionName?: string
  memorySize: number
  timeout: Duration
  environment: Record<string, string>
  /** Statements beyond VPC access and logging. */
  statements: iam.PolicyStatement[]
  bundling?: Partial<nodejs.BundlingOptions>
  /** X-Ray active tracing (CDK adds the xray:Put* statement to the role). */
  tracing?: lambda.Tracing
}

/**
 * A nodejs24.x arm64 function in the app subnets and security group, bundled with the local esbuild
 * (no Docker), logging to a log group of its own through a role of its own.
 */
export const vpcFunction = (
  scope: Construct,
  id: string,
  network: SampleNetwork,
  props: VpcFunctionProps,
): { fn: nodejs.NodejsFunction; logGroup: logs.LogGroup; role: iam.Role } => {
  const logGroup = ownedLogGroup(scope, `${id}Logs`)
  const role = vpcFunctionRole(scope, `${id}Role`, {
    description: props.description,
    logGroup,
    statements: props.statements,
  })
  const fn = new nodejs.NodejsFunction(scope, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    handler: 'handler',
    vpc: network.vpc,
    vpcSubnets: network.appSubnets,
    securityGroups: [network.appSg],
    projectRoot: repoRoot,
    depsLockFilePath: join(repoRoot, 'pnpm-lock.yaml'),
    functionName: props.functionName,
    entry: props.entry,
    role,
    logGroup,
    memorySize: props.memorySize,
    timeout: props.timeout,
    environment: props.environment,
    tracing: props.tracing,
    bundling: bundling(props.bundling),
  })
  return { fn, logGroup, role }
}
