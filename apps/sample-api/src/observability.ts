import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { Tracer } from '@aws-lambda-powertools/tracer'

/**
 * The Powertools utilities of the app. Their settings come from the environment the CDK stack sets
 * (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_TRACE_ENABLED);
 * the defaults here serve local runs. The Tracer switches itself off outside Lambda.
 */
export interface Observability {
  logger: Logger
  metrics: Metrics
  tracer: Tracer
}

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
    tracer: overrides.tracer ?? new Tracer({ serviceName }),
  }
}
