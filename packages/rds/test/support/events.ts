import diagnostics from 'node:diagnostics_channel'
import { type ConnectEvent, channelNames, type QueryEvent, type RecoverEvent } from '../../src/index.ts'

export type Seen =
  | { channel: 'connect'; stage: 'start' | 'settled'; event: ConnectEvent }
  | { channel: 'query'; stage: 'start' | 'settled'; event: QueryEvent }
  | { channel: 'recover'; stage: 'message'; event: RecoverEvent }

/**
 * Subscribes to the rds channels as any subscriber would and keeps a copy of every payload at the moment it
 * was published, in order (a traced payload is one object that gains fields when it settles).
 */
export function recordEvents() {
  const seen: Seen[] = []
  const traced = (channel: 'connect' | 'query') => ({
    start: (message: unknown) =>
      seen.push({ channel, stage: 'start', event: structuredClone(message) } as Seen),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (message: unknown) =>
      seen.push({ channel, stage: 'settled', event: structuredClone(message) } as Seen),
    error: () => {},
  })
  const connect = traced('connect')
  const query = traced('query')
  const recover = (message: unknown) =>
    seen.push({ channel: 'recover', stage: 'message', event: structuredClone(message) as RecoverEvent })
  diagnostics.tracingChannel(channelNames.connect).subscribe(connect)
  diagnostics.tracingChannel(channelNames.query).subscribe(query)
  diagnostics.subscribe(channelNames.recover, recover)
  return {
    seen,
    clear: () => void seen.splice(0),
    /** The settled connect events, oldest first. */
    connects: () => seen.flatMap((s) => (s.channel === 'connect' && s.stage === 'settled' ? [s.event] : [])),
    /** The settled query events, oldest first. */
    queries: () => seen.flatMap((s) => (s.channel === 'query' && s.stage === 'settled' ? [s.event] : [])),
    recovers: () => seen.flatMap((s) => (s.channel === 'recover' ? [s.event] : [])),
    /** `reason/action code` of each recovery step: the sequence a test reads at a glance. */
    steps: () =>
      seen.flatMap((s) =>
        s.channel === 'recover'
          ? [`${s.event.reason}/${s.event.action}${s.event.code ? ` ${s.event.code}` : ''}`]
          : [],
      ),
    stop() {
      diagnostics.tracingChannel(channelNames.connect).unsubscribe(connect)
      diagnostics.tracingChannel(channelNames.query).unsubscribe(query)
      diagnostics.unsubscribe(channelNames.recover, recover)
    },
  }
}

export type Recorder = ReturnType<typeof recordEvents>
