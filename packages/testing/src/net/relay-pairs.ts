import type { Server, Socket } from 'node:net'
import { resetSocket } from './reset-socket.ts'

/** One relayed connection: the client's socket and, once connected, the upstream's. */
export interface RelayPair {
  client: Socket
  upstream?: Socket | undefined
}

/**
 * The connections a loopback relay (the TCP proxy, the switchable endpoint) holds, tied so that a reset on
 * one side becomes a reset on the other (an RST, not a polite close) and a close on one side closes the other.
 */
export function relayPairs<P extends RelayPair>() {
  const pairs = new Set<P>()
  let stopping: Promise<void> | undefined

  const reset = (pair: P) => {
    resetSocket(pair.client)
    resetSocket(pair.upstream)
    pairs.delete(pair)
  }

  return {
    pairs,
    reset,
    /** A new client connection: its reset resets the upstream, its close closes it. */
    track(pair: P) {
      pairs.add(pair)
      pair.client.on('error', () => reset(pair))
      pair.client.on('close', () => {
        pair.upstream?.destroy()
        pairs.delete(pair)
      })
    },
    /** The pair's upstream connection: its reset resets the client, its close closes it. */
    link(pair: P, upstream: Socket) {
      pair.upstream = upstream
      upstream.on('error', () => reset(pair))
      upstream.on('close', () => pair.client.destroy())
    },
    /** Open client connections. */
    connections: () => [...pairs].filter((pair) => !pair.client.destroyed).length,
    /** Every open connection reset (a network partition). */
    resetAll() {
      for (const pair of [...pairs]) reset(pair)
    },
    /** Closes the server and every connection; the same promise on every call. */
    stop(server: Server): Promise<void> {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const pair of pairs) {
          pair.client.destroy()
          pair.upstream?.destroy()
        }
        pairs.clear()
      })
      return stopping
    },
  }
}
