import {
  aws_apigatewayv2 as apigw,
  aws_apigatewayv2_integrations as apigwIntegrations,
  type aws_lambda as lambda,
  type aws_logs as logs,
  aws_apigateway as restApi,
  Validations,
} from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { ownedLogGroup } from './logs.ts'

/** One JSON line per request, with the request id that also appears in the function's log. */
const accessLogFormat = restApi.AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    ip: '$context.identity.sourceIp',
    time: '$context.requestTime',
    method: '$context.httpMethod',
    path: '$context.path',
    status: '$context.status',
    responseLength: '$context.responseLength',
    latencyMs: '$context.responseLatency',
    integrationLatencyMs: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
  }),
)

/**
 * An HTTP API (payload 2.0) sending every route to the function, on a `$default` stage with access logs
 * and a throttle: the API has no authorizer, so the throttle is what bounds what a stranger can cost you.
 */
export const httpApi = (
  scope: Construct,
  { handler, throttle }: { handler: lambda.IFunction; throttle: { rateLimit: number; burstLimit: number } },
): { api: apigw.HttpApi; stage: apigw.HttpStage; accessLogs: logs.LogGroup } => {
  const api = new apigw.HttpApi(scope, 'HttpApi', {
    description: 'rdskit sample notes API',
    createDefaultStage: false,
    defaultIntegration: new apigwIntegrations.HttpLambdaIntegration('ApiIntegration', handler, {
      payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
    }),
  })
  const accessLogs = ownedLogGroup(scope, 'ApiAccessLogs')
  const stage = new apigw.HttpStage(scope, 'DefaultStage', {
    httpApi: api,
    stageName: '$default',
    autoDeploy: true,
    throttle,
    accessLogSettings: {
      destination: new apigw.LogGroupLogDestination(accessLogs),
      format: accessLogFormat,
    },
  })
  // On the API, so it covers every route, present and future.
  Validations.of(api).acknowledge({
    id: 'AwsSolutions-APIG4',
    reason:
      'The sample API is public on purpose, so it can be called right after deploying; ' +
      'add a JWT or IAM authorizer before storing anything real (see the deploy guide).',
  })
  return { api, stage, accessLogs }
}
