import { Console } from 'node:console'
import { openSync, writeSync } from 'node:fs'
import { Writable } from 'node:stream'
import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'

/** The access log and EMF go where the throughput servers send them: /dev/null, written synchronously like a file. */
const devNull = openSync('/dev/null', 'w')
const sink = new Writable({
  write(chunk, _encoding, callback) {
    writeSync(devNull, chunk as Buffer)
    callback()
  },
})

/**
 * Powertools Logger and Metrics whose output goes to /dev/null. They write through a `console` of their
 * own (a protected field, replaced here: the bench's stdout carries its results).
 */
export const sinkObservability = (level: 'info' | 'silent') => {
  const logger = new Logger({ serviceName: 'bench', logLevel: level === 'silent' ? 'SILENT' : 'INFO' })
  const metrics = new Metrics({ serviceName: 'bench', namespace: 'bench' })
  const silence = <T extends object>(utility: T): T =>
    Object.assign(utility, { console: new Console({ stdout: sink, stderr: sink }) })
  silence(logger)
  silence(metrics)
  // A single metric (the rds adapter's reconnects by reason) is a new instance with a console of its own.
  const singleMetric = metrics.singleMetric.bind(metrics)
  metrics.singleMetric = () => silence(singleMetric())
  return { logger, metrics }
}
