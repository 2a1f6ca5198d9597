import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import type { Tracer } from '@aws-lambda-powertools/tracer'

/**
 * The Powertools utilities of the app. Their settings come from the environment the CDK stack sets
 * (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_TRACE_ENABLED);
 * the defaults here serve local runs. There is no Tracer where it would not trace (see `tracing`).
 */
export interface Observability {
  logger: Logger
  metrics: Metrics
  /** Undefined where Powertools would not trace: outside Lambda, under SAM or Amplify, or switched off. */
  tracer: Tracer | undefined
}

/** Powertools Tracer's own rule: it traces in Lambda (not SAM local, not Amplify's mock) unless switched off. */
export const tracing = (env: NodeJS.ProcessEnv = process.env): boolean =>
  env.POWERTOOLS_TRACE_ENABLED?.toLowerCase() !== 'false' &&
  Boolean(env.AWS_EXECUTION_ENV) &&
  env.AWS_EXECUTION_ENV !== 'AWS_Lambda_amplify-mock' &&
  !env.AWS_SAM_LOCAL

/**
 * The X-Ray SDK under the Tracer creates its cls-hooked namespace as it loads: an async hook with destroy
 * tracking on every promise of the process, traced or not (aws/aws-xray-sdk-node#420). Measured locally, that
 * hook alone made every request of this app cost about a third more CPU. So the Tracer is loaded only
 * where it traces.
 */
const TracerClass = tracing() ? (await import('@aws-lambda-powertools/tracer')).Tracer : undefined

export const defaultServiceName = 'rdskit-sample-api'
export const defaultMetricsNamespace = 'rdskit-sample'

/** An explicit option wins over the environment in Powertools: pass one only when the variable is unset. */
const unlessSet = <T>(variable: string, value: T): T | undefined =>
  process.env[variable] ? undefined : value

export const createObservability = (overrides: Partial<Observability> = {}): Observability => {
  const serviceName = unlessSet('POWERTOOLS_SERVICE_NAME', defaultServiceName)
  return {
    logger:
      overrides.logger ??
      new Logger({ serviceName, logLevel: unlessSet('POWERTOOLS_LOG_LEVEL', 'INFO' as const) }),
    metrics:
      overrides.metrics ??
      new Metrics({
        serviceName,
        namespace: unlessSet('POWERTOOLS_METRICS_NAMESPACE', defaultMetricsNamespace),
      }),
    tracer: 'tracer' in overrides ? overrides.tracer : TracerClass && new TracerClass({ serviceName }),
  }
}
