import { aws_iam as iam, aws_logs as logs, RemovalPolicy } from 'aws-cdk-lib'
import type { Construct } from 'constructs'

/**
 * A log group the stack owns: a month of retention instead of CloudWatch's "never expire", and removed
 * with the stack, so a teardown leaves nothing billing behind.
 */
export const ownedLogGroup = (scope: Construct, id: string): logs.LogGroup =>
  new logs.LogGroup(scope, id, {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  })

/** Writing to one log group and nothing else (the part of AWSLambdaBasicExecutionRole a function needs). */
export const writeLogs = (logGroup: logs.ILogGroup): iam.PolicyStatement =>
  new iam.PolicyStatement({
    sid: 'WriteOwnLogGroup',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn],
  })
