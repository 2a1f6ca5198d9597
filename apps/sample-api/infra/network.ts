import { aws_ec2 as ec2 } from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { ownedLogGroup } from './logs.ts'

export interface SampleNetwork {
  vpc: ec2.Vpc
  /** Where the functions (and the interface endpoints) run. */
  appSubnets: ec2.SubnetSelection
  /** Where the database runs: isolated, no route out. */
  dbSubnets: ec2.SubnetSelection
  /** The functions' group; the database and the endpoints admit it and nothing else. */
  appSg: ec2.SecurityGroup
  dbSg: ec2.SecurityGroup
}

/**
 * A VPC with private subnets only (plus public ones when NAT gateways are asked for), one security group
 * per tier, VPC flow logs to CloudWatch Logs, and interface endpoints for KMS and Secrets Manager: without
 * them a Decrypt from inside the VPC hangs until the Lambda timeout.
 */
export const sampleNetwork = (
  scope: Construct,
  { natGateways, dbPort }: { natGateways: number; dbPort: number },
): SampleNetwork => {
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways,
    subnetConfiguration: [
      ...(natGateways > 0 ? [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }] : []),
      {
        name: 'app',
        subnetType: natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED,
        cidrMask: 22,
      },
      { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
    ],
  })
  // Accepted and rejected traffic alike: the record to read when a connection times out.
  vpc.addFlowLog('FlowLog', {
    destination: ec2.FlowLogDestination.toCloudWatchLogs(ownedLogGroup(scope, 'FlowLogGroup')),
    trafficType: ec2.FlowLogTrafficType.ALL,
  })

  const appSg = new ec2.SecurityGroup(scope, 'AppSecurityGroup', {
    vpc,
    description: 'rdskit sample API functions',
    allowAllOutbound: natGateways > 0,
  })
  const dbSg = new ec2.SecurityGroup(scope, 'DatabaseSecurityGroup', {
    vpc,
    description: 'rdskit sample API database: PostgreSQL from the app security group only',
    allowAllOutbound: false,
  })
  const endpointSg = new ec2.SecurityGroup(scope, 'EndpointSecurityGroup', {
    vpc,
    description: 'Interface endpoints: HTTPS from the app security group only',
    allowAllOutbound: false,
  })
  dbSg.addIngressRule(appSg, ec2.Port.tcp(dbPort), 'PostgreSQL from the app functions')
  endpointSg.addIngressRule(appSg, ec2.Port.tcp(443), 'AWS APIs from the app functions')
  if (natGateways === 0) {
    appSg.addEgressRule(dbSg, ec2.Port.tcp(dbPort), 'to PostgreSQL')
    appSg.addEgressRule(endpointSg, ec2.Port.tcp(443), 'to the KMS and Secrets Manager endpoints')
  }

  const appSubnets: ec2.SubnetSelection = { subnetGroupName: 'app' }
  const endpointOptions = {
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
  return { vpc, appSubnets, dbSubnets: { subnetGroupName: 'db' }, appSg, dbSg }
}
