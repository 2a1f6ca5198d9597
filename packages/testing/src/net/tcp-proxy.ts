import { connect, createServer, type Socket } from 'node:net'
import { listenLoopback } from './listen-loopback.ts'
import { resetSocket } from './reset-socket.ts'
import type { ResponseStarted, StartTcpProxyOptions, TcpProxy } from './types.ts'

interface Pair {
  client: Socket
  upstream: Socket | undefined
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
  const pairs = new Set<Pair>()
  const swallow = (pair: Pair, chunk: Buffer) => {
    if (!swallowing && !pair.silent) return false
    swallowed += chunk.length
    return true
  }

  const resetPair = (pair: Pair) => {
    resetSocket(pair.client)
    resetSocket(pair.upstream)
    pairs.delete(pair)
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
    const pair: Pair = { client, upstream: undefined, silent: false }
    pairs.add(pair)
    client.on('error', () => resetPair(pair))
    client.on('close', () => {
      if (pair.upstream && !pair.upstream.destroyed) pair.upstream.destroy()
      pairs.delete(pair)
    })
    setTimeout(() => {
      if (client.destroyed) return
      const upstream = connect({ host: target.host, port: target.port })
      pair.upstream = upstream
      // An upstream reset becomes a reset for the client too, not a polite close.
      upstream.on('error', () => resetPair(pair))
      upstream.on('close', () => {
        if (!client.destroyed) client.destroy()
      })
      upstream.once('connect', () => {
        forward(client, upstream, claimClientData(pair))
        forward(upstream, client, claimServerData(pair))
        client.resume()
      })
    }, acceptDelayMs)
  })
  const port = await listenLoopback(server)
  let stopping: Promise<void> | undefined

  return {
    host: '127.0.0.1',
    port,
    connections: () => [...pairs].filter((pair) => !pair.client.destroyed).length,
    swallowed: () => swallowed,
    resetAll() {
      for (const pair of [...pairs]) resetPair(pair)
    },
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
      for (const pair of pairs) pair.silent = true
    },
    blackhole(on) {
      swallowing = on
    },
    setAcceptDelay(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`setAcceptDelay: ms must be >= 0; got ${ms}`)
      acceptDelayMs = ms
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const pair of [...pairs]) {
          pair.client.destroy()
          pair.upstream?.destroy()
        }
        pairs.clear()
      })
      return stopping
    },
  }
}
