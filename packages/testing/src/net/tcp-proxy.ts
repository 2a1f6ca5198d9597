import { connect, createServer, type Socket } from 'node:net'
import { listenLoopback } from './listen-loopback.ts'
import { type RelayPair, relayPairs } from './relay-pairs.ts'
import type { ResponseStarted, StartTcpProxyOptions, TcpProxy } from './types.ts'

interface Pair extends RelayPair {
  /** Bytes are swallowed both ways on this connection (a peer that went silent). */
  silent: boolean
  /** Client bytes seen before the server answered (handed to the response watcher). */
  onClientData?: (chunk: Buffer) => void
  /** Called with each server chunk before it is forwarded; returns true when it claimed the chunk. */
  onServerData?: (chunk: Buffer) => boolean
}

/** A fault armed for the next connection that sends client bytes; it then owns that pair. */
type Armed = (pair: Pair, chunk: Buffer) => boolean

/** Resolves once `chunk` was handed to the kernel of `to` (on loopback: the peer's receive buffer). */
function writeThrough(to: Socket, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (to.destroyed) return resolve()
    to.write(chunk, () => resolve())
  })
}

/** Forwards `from` to `to` unless `claim` takes the chunk (a fault, or a silence that swallows it). */
function forward(from: Socket, to: Socket, claim: (chunk: Buffer) => boolean): void {
  from.on('data', (chunk: Buffer) => {
    if (claim(chunk)) return
    if (!to.write(chunk)) {
      from.pause()
      to.once('drain', () => from.resume())
    }
  })
  from.on('end', () => to.end())
}

/**
 * A loopback TCP proxy for the faults a server cannot produce by itself: a reset at a chosen point of a
 * request (a real RST, not a FIN), a silent dead network, a slow accept. It forwards bytes without reading
 * them, so it works for TLS sessions too: the points it resets at are "client bytes forwarded" and "server
 * bytes forwarded", and a test that needs more (the statement is executing) says so with `confirm`.
 */
export async function startTcpProxy(options: StartTcpProxyOptions): Promise<TcpProxy> {
  const { target } = options ?? {}
  if (!target || typeof target.host !== 'string' || !Number.isInteger(target.port)) {
    throw new TypeError('startTcpProxy: target { host, port } is required')
  }
  let acceptDelayMs = options.acceptDelayMs ?? 0
  let swallowing = false
  let armed: Armed | undefined
  let swallowed = 0
  const relay = relayPairs<Pair>()
  const resetPair = relay.reset
  const swallow = (pair: Pair, chunk: Buffer) => {
    if (!swallowing && !pair.silent) return false
    swallowed += chunk.length
    return true
  }

  const arm = (fault: Armed) => {
    if (armed) throw new Error('startTcpProxy: a reset is already armed; await it before arming another')
    armed = fault
  }

  const claimClientData = (pair: Pair) => (chunk: Buffer) => {
    if (swallow(pair, chunk)) return true
    if (armed) {
      const fault = armed
      armed = undefined
      if (fault(pair, chunk)) return true
    }
    pair.onClientData?.(chunk)
    return false
  }
  const claimServerData = (pair: Pair) => (chunk: Buffer) =>
    swallow(pair, chunk) || (pair.onServerData?.(chunk) ?? false)

  const server = createServer({ pauseOnConnect: true }, (client) => {
    const pair: Pair = { client, silent: false }
    relay.track(pair)
    setTimeout(() => {
      if (client.destroyed) return
      const upstream = connect({ host: target.host, port: target.port })
      relay.link(pair, upstream)
      upstream.once('connect', () => {
        forward(client, upstream, claimClientData(pair))
        forward(upstream, client, claimServerData(pair))
        client.resume()
      })
    }, acceptDelayMs)
  })
  const port = await listenLoopback(server)

  return {
    host: '127.0.0.1',
    port,
    connections: relay.connections,
    swallowed: () => swallowed,
    resetAll: relay.resetAll,
    resetOnNextData(afterClientBytes = 0) {
      if (!Number.isInteger(afterClientBytes) || afterClientBytes < 0) {
        throw new TypeError(
          `resetOnNextData: afterClientBytes must be a non-negative integer; got ${afterClientBytes}`,
        )
      }
      let remaining = afterClientBytes
      // Lets `remaining` more client bytes through, then resets the connection that sent the next ones.
      const fault: Armed = (pair, chunk) => {
        if (chunk.length <= remaining) {
          remaining -= chunk.length
          armed = fault
          return false
        }
        const head = chunk.subarray(0, remaining)
        if (head.length > 0) pair.upstream?.write(head)
        setImmediate(() => resetPair(pair))
        return true
      }
      arm(fault)
    },
    resetAfterRequest(confirm) {
      return new Promise<void>((resolve, reject) => {
        arm((pair, chunk) => {
          const upstream = pair.upstream as Socket
          writeThrough(upstream, chunk)
            .then(() => confirm?.())
            .then(
              () => {
                resetPair(pair)
                resolve()
              },
              (error: unknown) => {
                resetPair(pair)
                reject(error)
              },
            )
          return true
        })
      })
    },
    resetAfterResponseStarts() {
      return new Promise<ResponseStarted>((resolve) => {
        arm((pair, request) => {
          let requestBytes = request.length
          pair.onClientData = (chunk) => {
            requestBytes += chunk.length
          }
          pair.onServerData = (chunk) => {
            pair.onServerData = undefined
            pair.onClientData = undefined
            // The first chunk of the answer reaches the client, then the connection dies under the rest.
            writeThrough(pair.client, chunk).then(() => {
              resetPair(pair)
              resolve({ requestBytes, responseBytes: chunk.length })
            })
            return true
          }
          return false
        })
      })
    },
    silenceOpenConnections() {
      for (const pair of relay.pairs) pair.silent = true
    },
    blackhole(on) {
      swallowing = on
    },
    setAcceptDelay(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`setAcceptDelay: ms must be >= 0; got ${ms}`)
      acceptDelayMs = ms
    },
    stop: () => relay.stop(server),
  }
}
