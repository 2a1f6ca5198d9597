import type { Tracer } from '@aws-lambda-powertools/tracer'
import type { ConnectEvent, EventError, EventTarget, QueryEvent } from '../events/types.ts'

/** What the adapter calls on a Powertools Tracer. */
export type TracerLike = Pick<Tracer, 'getSegment' | 'isTracingEnabled'>

/** The part of an X-Ray (sub)segment the adapter uses. */
interface XraySegment {
  addNewSubsegment(name: string): XraySubsegment
}
interface XraySubsegment {
  addAttribute(name: string, value: unknown): void
  addSqlData(data: Record<string, string>): void
  addMetadata(key: string, value: unknown, namespace?: string): void
  close(error?: string): void
}

/**
 * X-Ray's SQL subsegment (the shape the X-Ray SDKs' own PostgreSQL patches record): named
 * `database@host`, namespace `remote`, and an `sql` object with the URL (no credentials), user, database
 * type and the sanitised query.
 */
const nameOf = (event: EventTarget) => `${event.database}@${event.host}`
const urlOf = (event: EventTarget) => `postgresql://${event.host}:${event.port}/${event.database}`

/** X-Ray records a cause from a string without a stack: the summary, never a driver message. */
const describe = (error: EventError) =>
  [error.name, error.code, error.message].filter((part) => part !== undefined).join(' ')

export function tracerHandlers(tracer: TracerLike) {
  const open = new WeakMap<object, XraySubsegment>()

  const begin = (event: EventTarget, sql: Record<string, string>, metadata: Record<string, unknown>) => {
    if (!tracer.isTracingEnabled()) return
    const parent = tracer.getSegment() as XraySegment | undefined
    if (!parent) return
    const subsegment = parent.addNewSubsegment(nameOf(event))
    subsegment.addAttribute('namespace', 'remote')
    subsegment.addSqlData({ url: urlOf(event), user: event.user, database_type: 'PostgreSQL', ...sql })
    for (const key in metadata) subsegment.addMetadata(key, metadata[key], 'rdskit')
    open.set(event, subsegment)
  }

  const end = (event: EventTarget & { error?: EventError }) => {
    const subsegment = open.get(event)
    if (!subsegment) return
    open.delete(event)
    subsegment.close(event.error ? describe(event.error) : undefined)
  }

  return {
    connectStart(event: ConnectEvent) {
      begin(event, {}, { operation: 'connect', attempt: event.attempt, tls: event.tls, pooler: event.pooler })
    },
    queryStart(event: QueryEvent) {
      begin(
        event,
        { sanitized_query: event.statement, preparation: 'statement' },
        { operation: event.operation, readOnly: event.readOnly },
      )
    },
    settled: end,
  }
}
