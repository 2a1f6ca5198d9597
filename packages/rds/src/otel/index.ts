import { type Tracer, trace } from '@opentelemetry/api'
import { all, onMessage, onTracing } from '../adapters/subscribe.ts'
import { channelNames } from '../events/channels.ts'
import type { ConnectEvent, DecryptEvent, QueryEvent, RecoverEvent } from '../events/types.ts'
import { spanHandlers } from './spans.ts'

export interface OpenTelemetryOptions {
  /** The tracer to start spans with; default `trace.getTracer('@rdskit/rds')` (the global provider). */
  tracer?: Tracer
}

/**
 * Subscribes the rdskit events to OpenTelemetry: a CLIENT span per connect and per statement following
 * the database semantic conventions (`db.system.name` postgresql, `db.namespace`, `server.address`,
 * `server.port`, `db.operation.name`, `db.query.summary`, sanitised `db.query.text`; on failure `error.type`
 * and `db.response.status_code` = SQLSTATE), a span per kms-env Decrypt batch, and each recovery step as an
 * event on the active span. Returns the function that unsubscribes.
 *
 * @example
 * ```ts
 * import { subscribeOpenTelemetry } from '@rdskit/rds/otel'
 * subscribeOpenTelemetry() // after the SDK registered its tracer provider
 * ```
 */
export function subscribeOpenTelemetry(options: OpenTelemetryOptions = {}): () => void {
  const spans = spanHandlers(options.tracer ?? trace.getTracer('@rdskit/rds'))
  const fault = (error: unknown) => {
    console.warn('@rdskit/rds/otel: a subscriber failed:', (error as Error)?.message ?? error)
  }
  return all([
    onTracing<ConnectEvent>(
      channelNames.connect,
      { start: spans.connectStart, settled: spans.settled },
      fault,
    ),
    onTracing<QueryEvent>(channelNames.query, { start: spans.queryStart, settled: spans.settled }, fault),
    onTracing<DecryptEvent>(
      channelNames.decrypt,
      { start: spans.decryptStart, settled: spans.settled },
      fault,
    ),
    onMessage<RecoverEvent>(channelNames.recover, spans.recover, fault),
  ])
}
