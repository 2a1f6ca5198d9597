/** Walks `error` and its `cause` chain (drizzle wraps driver errors), returning the first link `match` accepts. */
export const findInChain = <T>(
  error: unknown,
  match: (e: Record<string, unknown>) => e is T & Record<string, unknown>,
) => {
  let current = error
  for (let depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    if (match(current as Record<string, unknown>)) return current as T
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}
