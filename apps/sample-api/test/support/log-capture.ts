import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'

/**
 * Powertools writes its JSON lines to process.stdout / stderr (warn and error to stderr). Each test app gets
 * its own service name; lines naming it (log lines and EMF documents alike) go to that app's list, the rest
 * of the output passes through.
 */
const sinks = new Map<string, string[]>()
let installed = false

function install() {
  if (installed) return
  installed = true
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = String(chunk)
      const service = /"service":"([^"]+)"/.exec(text)?.[1]
      const sink = service === undefined ? undefined : sinks.get(service)
      if (!sink) return write(chunk, ...rest)
      for (const line of text.split('\n')) if (line.trim()) sink.push(line)
      return true
    }) as typeof stream.write
  }
}

let apps = 0
/** A Logger and a Metrics whose output lands in `lines` (Tracer: off outside Lambda). */
export function capturedObservability(logLevel: 'DEBUG' | 'INFO' = 'INFO') {
  install()
  const serviceName = `sample-api-test-${process.pid}-${++apps}`
  const lines: string[] = []
  sinks.set(serviceName, lines)
  return {
    lines,
    /** Log lines only (EMF documents have no `level`), parsed. */
    logs: () =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => typeof l.level === 'string'),
    /** EMF documents only. */
    metrics: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => '_aws' in l),
    logger: new Logger({ serviceName, logLevel }),
    metricsInstance: new Metrics({ serviceName, namespace: 'rdskit-sample-test' }),
    stop: () => sinks.delete(serviceName),
  }
}
