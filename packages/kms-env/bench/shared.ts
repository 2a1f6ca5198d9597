export { lambdaContext } from '../test/lambda-context.ts'

export interface Row {
  name: string
  /** ms */
  mean: number
  p50: number
  p99: number
}

export const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(2)} µs`)
