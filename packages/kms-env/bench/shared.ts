import type { Context } from 'aws-lambda'

export interface Row {
  name: string
  /** ms */
  mean: number
  p50: number
  p99: number
}

export function lambdaContext(): Context {
  return {
    functionName: 'bench-fn',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:bench-fn',
    memoryLimitInMB: '128',
    awsRequestId: 'req',
    logGroupName: '/aws/lambda/bench-fn',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
}

export const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(2)} µs`)
