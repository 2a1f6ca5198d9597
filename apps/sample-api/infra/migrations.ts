import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CustomResource,
  custom_resources as cr,
  aws_iam as iam,
  type aws_lambda as lambda,
} from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { appDir } from './bundling.ts'
import { ownedLogGroup, writeLogs } from './logs.ts'

/** Changes when any migration file changes, so CloudFormation re-runs the migrate step exactly then. */
export const migrationsHash = (): string => {
  const hash = createHash('sha256')
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))
    for (const entry of entries) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else hash.update(entry.name).update(readFileSync(path))
    }
  }
  walk(join(appDir, 'drizzle'))
  return hash.digest('hex')
}

/**
 * The CDK provider framework in front of the migrate function, with a role of its own: invoke (and wait
 * for) that one function, write its own log group, nothing else. The role is handed over without policy
 * updates, so the framework cannot widen it (its default grant adds `<function ARN>:*`).
 */
const migrateProvider = (scope: Construct, migrateFunction: lambda.IFunction) => {
  const logGroup = ownedLogGroup(scope, 'MigrateProviderLogs')
  const role = new iam.Role(scope, 'MigrateProviderRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'rdskit sample API migrate step: the CloudFormation custom resource provider',
    inlinePolicies: {
      invokeMigrate: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'InvokeMigrateFunction',
            actions: ['lambda:InvokeFunction', 'lambda:GetFunction'],
            resources: [migrateFunction.functionArn],
          }),
          writeLogs(logGroup),
        ],
      }),
    },
  })
  return new cr.Provider(scope, 'MigrateProvider', {
    onEventHandler: migrateFunction,
    frameworkOnEventRole: role.withoutPolicyUpdates(),
    logGroup,
  })
}

/**
 * A custom resource that runs the migrate function on create and whenever the migrations or the app
 * password change; what depends on it (the API function) updates only after it succeeded.
 */
export const migrationStep = (
  scope: Construct,
  { migrateFunction, passwordCiphertext }: { migrateFunction: lambda.IFunction; passwordCiphertext: string },
): CustomResource =>
  new CustomResource(scope, 'Migrations', {
    serviceToken: migrateProvider(scope, migrateFunction).serviceToken,
    resourceType: 'Custom::RdskitMigrations',
    properties: { migrations: migrationsHash(), passwordCiphertext },
  })
