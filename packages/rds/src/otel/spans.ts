import {
  type Attributes,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import type {
  ConnectEvent,
  DecryptEvent,
  EventError,
  EventTarget,
  QueryEvent,
  RecoverEvent,
} from '../events/types.ts'

/** The database semantic conventions (stable since semconv 1.33) for a PostgreSQL target. */
function targetAttributes(event: EventTarget): Attributes {
  return {
    'db.system.name': 'postgresql',
    'db.namespace': event.database,
    'server.address': event.host,
    'server.port': event.port,
  }
}

/**
 * `error.type` is the SQLSTATE when the server answered one (as `db.response.status_code` too), else the
 * Node or rdskit code, else the class name. The status description is rdskit's own message or the codes,
 * never a driver message (which can quote a parameter value).
 */
function fail(span: Span, error: EventError): void {
  span.setAttribute('error.type', error.sqlstate ?? error.code ?? error.name)
  if (error.sqlstate) span.setAttribute('db.response.status_code', error.sqlstate)
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error.message ?? [error.name, error.code].filter(Boolean).join(' '),
  })
}

export function spanHandlers(tracer: Tracer) {
  const open = new WeakMap<object, Span>()
  const begin = (payload: object, name: string, attributes: Attributes) => {
    open.set(payload, tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, context.active()))
  }
  const end = (payload: { error?: EventError | { name: string; code?: string; message?: string } }) => {
    const span = open.get(payload)
    if (!span) return
    open.delete(payload)
    if (payload.error) fail(span, payload.error)
    span.end()
  }

  return {
    connectStart(event: ConnectEvent) {
      begin(event, `connect ${event.database}`, {
        ...targetAttributes(event),
        'db.operation.name': 'connect',
        'rdskit.connect.attempt': event.attempt,
        'rdskit.tls': event.tls,
        'rdskit.pooler': event.pooler,
      })
    },
    queryStart(event: QueryEvent) {
      begin(event, event.summary, {
        ...targetAttributes(event),
        'db.operation.name': event.operation,
        'db.query.summary': event.summary,
        'db.query.text': event.statement,
        'rdskit.read_only': event.readOnly,
      })
    },
    decryptStart(event: DecryptEvent) {
      begin(event, 'KMS Decrypt', {
        'rpc.system': 'aws-api',
        'rpc.service': 'KMS',
        'rpc.method': 'Decrypt',
        'rdskit.kms_env.variables': event.variables,
        'rdskit.kms_env.key_ids': event.keyIds,
        'rdskit.kms_env.count': event.count,
      })
    },
    settled: end,
    /** A recovery step is an event on the span that is active where it happened (the invocation's). */
    recover(event: RecoverEvent) {
      const attributes: Attributes = {
        ...targetAttributes(event),
        'rdskit.recover.reason': event.reason,
        'rdskit.recover.action': event.action,
        'rdskit.recover.attempt': event.attempt,
      }
      if (event.code !== undefined) attributes['rdskit.recover.code'] = event.code
      if (event.delayMs !== undefined) attributes['rdskit.recover.delay_ms'] = event.delayMs
      trace.getActiveSpan()?.addEvent('rdskit.rds.recover', attributes)
    },
  }
}
