/**
 * Structured JSON logs, one line per record, with the request id on every line of a request. Fields are
 * chosen by the caller from a closed set of safe values; nothing here serialises an arbitrary object,
 * so a password, ciphertext or request body cannot reach the log by accident.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export type LogFields = Record<string, string | number | boolean | null | undefined | string[]>

export interface Logger {
  level: LogLevel
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
}

export const createLogger = (
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger => {
  const min = order[level] ?? order.info
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (order[lvl] < min) return
    // The same line JSON.stringify({ level, time, msg, ...fields }) gives, without copying the fields into
    // a fresh object first: this runs once per request on the warm path.
    let line = `{"level":"${lvl}","time":"${new Date().toISOString()}","msg":${JSON.stringify(msg)}`
    if (fields) {
      for (const key in fields) {
        const value = fields[key]
        if (value !== undefined && key !== 'level' && key !== 'time' && key !== 'msg')
          line += `,${JSON.stringify(key)}:${JSON.stringify(value)}`
      }
    }
    write(`${line}}\n`)
  }
  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  }
}

/**
 * The safe description of an error: names, codes, SQLSTATE and messages along the `cause` chain, never
 * `cause.data`, query parameters or any other payload an error may carry.
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
