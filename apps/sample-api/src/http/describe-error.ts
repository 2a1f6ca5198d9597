/** The fields a log line may carry: a closed set of safe scalar values, never an arbitrary object. */
export type LogFields = Record<string, string | number | boolean | null | undefined | string[]>

/**
 * The safe description of an error: names, codes, SQLSTATE and messages along the `cause` chain, never
 * `cause.data`, query parameters or any other payload an error may carry. The Logger is never handed the
 * error itself: Powertools would serialise its message, stack and cause, and drizzle's message lists the
 * bound parameters.
 */
export const describeError = (error: unknown): LogFields => {
  const chain: string[] = []
  let current: unknown = error
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') break
    const e = current as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown }
    const parts = [typeof e.name === 'string' ? e.name : 'Error']
    if (typeof e.code === 'string' || typeof e.code === 'number') parts.push(`[${e.code}]`)
    // drizzle's DrizzleQueryError appends the bound parameters (user data) to its message: cut them.
    if (typeof e.message === 'string') parts.push(e.message.split('\nparams:')[0] ?? '')
    chain.push(parts.join(' '))
    current = e.cause
  }
  const top = error as { stack?: unknown }
  return {
    error: chain[0],
    errorCauses: chain.slice(1),
    stack: typeof top?.stack === 'string' ? top.stack.split('\n').slice(1, 6).join('\n') : undefined,
  }
}
