import type { Context } from 'aws-lambda'

/**
 * A Lambda context good enough for middy (tests and benchmarks). Typed `never` so it fits handlers whose
 * context type carries the values `setToContext` adds (the runtime passes the plain context; middy adds them).
 */
export function lambdaContext(functionName = 'orders-api', timeoutMs = 30_000): never {
  // Like Lambda's: the time left until a deadline fixed when the invocation starts.
  const deadline = Date.now() + timeoutMs
  const context: Context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:111122223333:function:${functionName}`,
    memoryLimitInMB: '128',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
  return context as never
}
