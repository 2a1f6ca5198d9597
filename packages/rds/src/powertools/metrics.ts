import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { ConnectEvent, DecryptEvent, QueryEvent, RecoverEvent } from '../events/types.ts'

/** What the adapter calls on a Powertools Metrics instance. */
export type MetricsLike = Pick<Metrics, 'addMetric' | 'singleMetric'>

/** The metric names the adapter emits (CloudWatch EMF, in the Metrics instance's namespace). */
export const metricNames = {
  connects: 'RdsConnects',
  connectFailures: 'RdsConnectFailures',
  connectTime: 'RdsConnectTime',
  tooManyConnections: 'RdsTooManyConnections',
  reconnects: 'RdsReconnects',
  retries: 'RdsRetries',
  backoffTime: 'RdsBackoffTime',
  statementTimeouts: 'RdsStatementTimeouts',
  errors: 'RdsErrors',
  decryptTime: 'KmsEnvDecryptTime',
  decryptFailures: 'KmsEnvDecryptFailures',
} as const

// The unit strings of Powertools' MetricUnit (a runtime import would make the peer dependency mandatory).
const count = 'Count' as const
const milliseconds = 'Milliseconds' as const

const rounded = (ms: number | undefined) => Math.round((ms ?? 0) * 100) / 100

/**
 * Counters and timings go into the invocation's metric set (flushed by `logMetrics` or
 * `publishStoredMetrics`); a count by reason or code goes out as its own single metric, so the dimension
 * does not spread to the invocation's other metrics.
 */
export function metricsHandlers(metrics: MetricsLike) {
  const byDimension = (name: string, dimension: string, value: string) => {
    metrics.singleMetric().addDimension(dimension, value).addMetric(name, count, 1)
  }
  return {
    connect(event: ConnectEvent) {
      if (event.error) {
        metrics.addMetric(metricNames.connectFailures, count, 1)
        if (event.error.sqlstate === '53300') metrics.addMetric(metricNames.tooManyConnections, count, 1)
        return
      }
      metrics.addMetric(metricNames.connects, count, 1)
      metrics.addMetric(metricNames.connectTime, milliseconds, rounded(event.durationMs))
    },
    query(event: QueryEvent) {
      const error = event.error
      if (error && (error.sqlstate === '57014' || error.code === 'TIMEOUT')) {
        metrics.addMetric(metricNames.statementTimeouts, count, 1)
      }
    },
    recover(event: RecoverEvent) {
      if (event.action === 'reconnect') byDimension(metricNames.reconnects, 'reason', event.reason)
      if (event.action === 'retry' || event.action === 'backoff')
        metrics.addMetric(metricNames.retries, count, 1)
      if (event.action === 'backoff')
        metrics.addMetric(metricNames.backoffTime, milliseconds, rounded(event.delayMs))
    },
    error(code: string) {
      byDimension(metricNames.errors, 'code', code)
    },
    decrypt(event: DecryptEvent) {
      if (event.error) metrics.addMetric(metricNames.decryptFailures, count, 1)
      else metrics.addMetric(metricNames.decryptTime, milliseconds, rounded(event.durationMs))
    },
  }
}
