import { expect } from 'vitest'

/** The units CloudWatch accepts in an EMF metric definition. */
export const cloudWatchUnits = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
])

export interface EmfMetric {
  namespace: string
  name: string
  unit: string
  dimensions: Record<string, string>
  values: number[]
}

/**
 * Checks one log line against the CloudWatch Embedded Metric Format specification and returns its metrics:
 * `_aws.Timestamp` (epoch ms), `_aws.CloudWatchMetrics[]` with a Namespace, Dimensions (arrays of at most 30
 * names) and Metrics (Name, Unit); every dimension is a string at the root and every metric a number or an
 * array of at most 100 numbers at the root.
 */
export function parseEmf(line: string): EmfMetric[] {
  const document = JSON.parse(line) as Record<string, unknown> & { _aws: Record<string, unknown> }
  const aws = document._aws as { Timestamp: unknown; CloudWatchMetrics: unknown }
  expect(typeof aws.Timestamp).toBe('number')
  expect(Math.abs(Date.now() - (aws.Timestamp as number))).toBeLessThan(60 * 60 * 1000)
  expect(Array.isArray(aws.CloudWatchMetrics)).toBe(true)
  const metrics: EmfMetric[] = []
  for (const directive of aws.CloudWatchMetrics as Array<Record<string, unknown>>) {
    expect(typeof directive.Namespace).toBe('string')
    expect((directive.Namespace as string).length).toBeGreaterThan(0)
    const dimensionSets = directive.Dimensions as string[][]
    expect(Array.isArray(dimensionSets)).toBe(true)
    const dimensions: Record<string, string> = {}
    for (const set of dimensionSets) {
      expect(set.length).toBeLessThanOrEqual(30)
      for (const name of set) {
        expect(typeof document[name], `dimension ${name} at the root`).toBe('string')
        dimensions[name] = document[name] as string
      }
    }
    for (const definition of directive.Metrics as Array<{ Name: string; Unit?: string }>) {
      expect(typeof definition.Name).toBe('string')
      if (definition.Unit !== undefined) expect(cloudWatchUnits).toContain(definition.Unit)
      const value = document[definition.Name]
      const values = Array.isArray(value) ? value : [value]
      expect(values.length).toBeLessThanOrEqual(100)
      for (const v of values) expect(typeof v, `metric ${definition.Name} at the root`).toBe('number')
      metrics.push({
        namespace: directive.Namespace as string,
        name: definition.Name,
        unit: definition.Unit ?? 'None',
        dimensions,
        values: values as number[],
      })
    }
  }
  return metrics
}
