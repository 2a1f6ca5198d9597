import { connect, createServer, type Socket } from 'node:net'
import { listenLoopback } from './listen-loopback.ts'
import { resetSocket } from './reset-socket.ts'

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
  const pairs = new Set<{ client: Socket; upstream?: Socket }>()
  const server = createServer({ pauseOnConnect: true }, (client) => {
    const pair: { client: Socket; upstream?: Socket } = { client }
    pairs.add(pair)
    const drop = () => {
      resetSocket(client)
      resetSocket(pair.upstream)
      pairs.delete(pair)
    }
    client.on('error', drop)
    client.on('close', () => {
      pair.upstream?.destroy()
      pairs.delete(pair)
    })
    const target = route()
    if (!target) return drop()
    const upstream = connect({ host: target.host, port: target.port })
    pair.upstream = upstream
    upstream.on('error', drop)
    upstream.on('close', () => client.destroy())
    upstream.once('connect', () => {
      client.pipe(upstream)
      upstream.pipe(client)
      client.resume()
    })
  })
  const port = await listenLoopback(server)
  let stopping: Promise<void> | undefined
  return {
    host: '127.0.0.1',
    port,
    connections: () => [...pairs].filter((pair) => !pair.client.destroyed).length,
    resetAll() {
      for (const pair of [...pairs]) {
        resetSocket(pair.client)
        resetSocket(pair.upstream)
      }
      pairs.clear()
    },
    stop() {
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
