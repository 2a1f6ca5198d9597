import { connect, createServer, type Socket } from 'node:net'
import type { StartTcpProxyOptions, TcpProxy } from './types.ts'

interface Pair {
  client: Socket
  upstream: Socket | undefined
}

function reset(socket: Socket | undefined): void {
  if (!socket || socket.destroyed) return
  // resetAndDestroy only works on a connected TCP socket; before that plain destroy is all there is.
  if (socket.readyState === 'opening') socket.destroy()
  else socket.resetAndDestroy()
}

/** Forwards `from` to `to` unless the proxy swallows it; `intercept` may claim a chunk (to reset instead). */
function forward(
  from: Socket,
  to: Socket,
  swallowing: () => boolean,
  intercept?: (chunk: Buffer) => boolean,
): void {
  from.on('data', (chunk: Buffer) => {
    if (swallowing()) return
    if (intercept?.(chunk)) return
    if (!to.write(chunk)) {
      from.pause()
      to.once('drain', () => from.resume())
    }
  })
  from.on('end', () => to.end())
}

/**
 * A loopback TCP proxy for the faults a server cannot produce by itself: a reset mid-query (a real RST, not
 * a FIN), a silent dead network, a slow accept.
 */
export async function startTcpProxy(options: StartTcpProxyOptions): Promise<TcpProxy> {
  const { target } = options ?? {}
  if (!target || typeof target.host !== 'string' || !Number.isInteger(target.port)) {
    throw new TypeError('startTcpProxy: target { host, port } is required')
  }
  let acceptDelayMs = options.acceptDelayMs ?? 0
  let swallowing = false
  let resetArmed: { remaining: number } | undefined
  const pairs = new Set<Pair>()

  const resetPair = (pair: Pair) => {
    reset(pair.client)
    reset(pair.upstream)
    pairs.delete(pair)
  }

  // Lets `remaining` more client bytes through, then resets the connection that sent the next ones.
  const interceptClientData = (pair: Pair) => (chunk: Buffer) => {
    if (!resetArmed) return false
    if (chunk.length <= resetArmed.remaining) {
      resetArmed.remaining -= chunk.length
      return false
    }
    const head = chunk.subarray(0, resetArmed.remaining)
    resetArmed = undefined
    if (head.length > 0) pair.upstream?.write(head)
    setImmediate(() => resetPair(pair))
    return true
  }

  const server = createServer({ pauseOnConnect: true }, (client) => {
    const pair: Pair = { client, upstream: undefined }
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
        forward(client, upstream, () => swallowing, interceptClientData(pair))
        forward(upstream, client, () => swallowing)
        client.resume()
      })
    }, acceptDelayMs)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  server.unref()
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  let stopping: Promise<void> | undefined

  return {
    host: '127.0.0.1',
    port,
    connections: () => [...pairs].filter((pair) => !pair.client.destroyed).length,
    resetAll() {
      for (const pair of [...pairs]) resetPair(pair)
    },
    resetOnNextData(afterClientBytes = 0) {
      if (!Number.isInteger(afterClientBytes) || afterClientBytes < 0) {
        throw new TypeError(
          `resetOnNextData: afterClientBytes must be a non-negative integer; got ${afterClientBytes}`,
        )
      }
      resetArmed = { remaining: afterClientBytes }
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
