const leading = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/
const readOnlyStart = /^(?:select|values|table|show|with)\b/i
/**
 * Words that make a statement write or lock even when it starts like a read: data-modifying CTEs,
 * SELECT … INTO, row locks, sequence and advisory-lock functions, and `explain analyze` (which executes).
 */
const writes =
  /\b(?:insert|update|delete|merge|truncate|into|copy|call|do|lock|grant|revoke|create|alter|drop|nextval|setval|pg_advisory\w*|pg_try_advisory\w*|pg_notify|pg_terminate_backend|pg_cancel_backend|set_config|dblink\w*|for\s+(?:no\s+key\s+)?update|for\s+(?:key\s+)?share)\b/i

/**
 * Whether re-running the statement after a dropped connection is safe: only plain reads qualify. Errs on the
 * side of "not read-only" (a false negative only costs a surfaced error; a false positive could repeat a write).
 * Functions with side effects called from a SELECT cannot be seen: pass `retryReadOnly: false` if you have those.
 */
export function isReadOnly(statement: string): boolean {
  const text = statement.replace(leading, '')
  if (!readOnlyStart.test(text)) return false
  // Quoted text cannot hide a keyword from us in a harmful way, but strip it so 'update' in data is not a write.
  const code = text.replace(/'(?:[^']|'')*'/g, "''").replace(/"(?:[^"]|"")*"/g, '""')
  return !writes.test(code)
}
