import { connect, createServer } from 'node:net'
import { listenLoopback } from './listen-loopback.ts'
import { type RelayPair, relayPairs } from './relay-pairs.ts'

export interface Upstream {
  host: string
  port: number
}

/** A loopback TCP endpoint whose `route()` picks the upstream of each new connection (a DNS name's answer). */
export interface SwitchableEndpoint {
  host: string
  port: number
  /** Open client connections. */
  connections(): number
  /** Reset every open connection (a network partition); new ones are routed as usual. */
  resetAll(): void
  stop(): Promise<void>
}

/**
 * Starts an endpoint on 127.0.0.1. Each new connection asks `route()` where to go, once: a connection stays on
 * the server it reached, as a TCP connection to an address a DNS name once resolved to does. When `route()` has
 * no answer or the upstream refuses, the client's connection is reset (a client sees ECONNRESET, not
 * ECONNREFUSED, since the endpoint itself accepted). A reset or close on one side is passed to the other.
 */
export async function startSwitchableEndpoint(
  route: () => Upstream | undefined,
): Promise<SwitchableEndpoint> {
  const relay = relayPairs<RelayPair>()
  const server = createServer({ pauseOnConnect: true }, (client) => {
    const pair: RelayPair = { client }
    relay.track(pair)
    const target = route()
    if (!target) return relay.reset(pair)
    const upstream = connect({ host: target.host, port: target.port })
    relay.link(pair, upstream)
    upstream.once('connect', () => {
      client.pipe(upstream)
      upstream.pipe(client)
      client.resume()
    })
  })
  const port = await listenLoopback(server)
  return {
    host: '127.0.0.1',
    port,
    connections: relay.connections,
    resetAll: relay.resetAll,
    stop: () => relay.stop(server),
  }
}
