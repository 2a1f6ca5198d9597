import { all, onMessage, onTracing } from '../adapters/subscribe.ts'
import { channelNames } from '../events/channels.ts'
import type { ConnectEvent, DecryptEvent, QueryEvent, RecoverEvent } from '../events/types.ts'
import { type LoggerLike, loggerHandlers } from './logger.ts'
import { type MetricsLike, metricsHandlers } from './metrics.ts'
import { type TracerLike, tracerHandlers } from './tracer.ts'

export interface PowertoolsOptions {
  /** A Powertools Logger: one line per recovery step, connect failures, decrypt failures. */
  logger?: LoggerLike
  /** A Powertools Metrics: connects, connect time, reconnects by reason, retries, backoff, timeouts, 53300s, decrypt time. */
  metrics?: MetricsLike
  /** A Powertools Tracer: an X-Ray subsegment per connect and per statement. */
  tracer?: TracerLike
}

/**
 * Subscribes the rdskit events (and `@rdskit/kms-env`'s decrypt events, by channel name) to the given
 * Powertools utilities. Returns the function that unsubscribes them.
 *
 * @example
 * ```ts
 * const unsubscribe = subscribePowertools({ logger, metrics, tracer })
 * ```
 */
export function subscribePowertools(options: PowertoolsOptions): () => void {
  const log = options.logger ? loggerHandlers(options.logger) : undefined
  const measure = options.metrics ? metricsHandlers(options.metrics) : undefined
  const trace = options.tracer ? tracerHandlers(options.tracer) : undefined
  // A broken logger or exporter must not take the database down with it.
  const fault = (error: unknown) => {
    console.warn('@rdskit/rds/powertools: a subscriber failed:', (error as Error)?.message ?? error)
  }
  return all([
    onTracing<ConnectEvent>(
      channelNames.connect,
      {
        start: trace?.connectStart,
        settled: (event) => {
          trace?.settled(event)
          measure?.connect(event)
          log?.connect(event)
        },
      },
      fault,
    ),
    onTracing<QueryEvent>(
      channelNames.query,
      {
        start: trace?.queryStart,
        settled: (event) => {
          trace?.settled(event)
          measure?.query(event)
        },
      },
      fault,
    ),
    onMessage<RecoverEvent>(
      channelNames.recover,
      (event) => {
        log?.recover(event)
        measure?.recover(event)
      },
      fault,
    ),
    onTracing<DecryptEvent>(
      channelNames.decrypt,
      {
        settled: (event) => {
          measure?.decrypt(event)
          log?.decrypt(event)
        },
      },
      fault,
    ),
  ])
}
