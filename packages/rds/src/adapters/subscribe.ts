import diagnostics from 'node:diagnostics_channel'

/** What an adapter does at each stage of a traced operation (the same payload object at every stage). */
export interface TracingHandlers<T> {
  start?: (event: T) => void
  /** Success or failure: `event.error` is set on failure. */
  settled?: (event: T) => void
}

type Unsubscribe = () => void

/**
 * Subscribes by channel name, so an adapter can listen to a package it does not import (kms-env). The
 * handlers never throw into the publisher: diagnostics_channel reports a subscriber's exception on
 * process 'uncaughtException', which in Lambda ends the container; observability must not do that.
 */
export function onTracing<T>(
  name: string,
  handlers: TracingHandlers<T>,
  onFault: (e: unknown) => void,
): Unsubscribe {
  const channel = diagnostics.tracingChannel(name)
  const guard = (fn: (event: T) => void) => (message: unknown) => {
    try {
      fn(message as T)
    } catch (error) {
      onFault(error)
    }
  }
  // Only the stages handled: a stage nobody listens to costs its publisher nothing.
  const subscribed: [diagnostics.Channel, (message: unknown) => void][] = []
  if (handlers.start) subscribed.push([channel.start, guard(handlers.start)])
  if (handlers.settled) subscribed.push([channel.asyncEnd, guard(handlers.settled)])
  for (const [stage, listener] of subscribed) stage.subscribe(listener)
  return () => {
    for (const [stage, listener] of subscribed) stage.unsubscribe(listener)
  }
}

/** A plain channel, with the same guard. */
export function onMessage<T>(
  name: string,
  handler: (event: T) => void,
  onFault: (e: unknown) => void,
): Unsubscribe {
  const listener = (message: unknown) => {
    try {
      handler(message as T)
    } catch (error) {
      onFault(error)
    }
  }
  diagnostics.subscribe(name, listener)
  return () => {
    diagnostics.unsubscribe(name, listener)
  }
}

/** Runs every unsubscribe once. */
export const all =
  (unsubscribes: Unsubscribe[]): Unsubscribe =>
  () => {
    for (const unsubscribe of unsubscribes.splice(0)) unsubscribe()
  }
