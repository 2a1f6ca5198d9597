import { connect, type Socket } from 'node:net'
import { Worker } from 'node:worker_threads'

/** A listening port on which a TCP connect never completes: what a client sees when no route exists. */
export interface StalledListener {
  host: string
  port: number
  /** `http://127.0.0.1:port`, to give a client as its endpoint. */
  url: string
  stop(): Promise<void>
}

// The listener lives in a worker whose event loop is parked in Atomics.wait: nothing ever accepts, so
// the kernel's accept queue fills up and every later SYN is dropped. The client's connect then hangs
// exactly as it does toward an address with no route (no RST, no ICMP), but on loopback and on any host.
const listenerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { createServer } = require('node:net')
const server = createServer()
server.listen({ host: '127.0.0.1', port: 0, backlog: workerData.backlog }, () => {
  parentPort.postMessage(server.address().port)
  Atomics.wait(workerData.release, 0, 0)
  server.close()
})
`

const connected = (socket: Socket) =>
  new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })

/**
 * Starts a listener on 127.0.0.1 that never accepts, with its accept queue already full (Linux keeps
 * backlog + 1 connections waiting): a connect to it stays pending until the client gives up.
 */
export async function startStalledListener(): Promise<StalledListener> {
  const backlog = 1
  const release = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(listenerSource, { eval: true, workerData: { backlog, release } })
  worker.unref()
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  // Fill the queue: these complete the handshake (the kernel answers them), then sit unaccepted.
  const fillers = Array.from({ length: backlog + 1 }, () => connect({ host: '127.0.0.1', port }))
  for (const filler of fillers) filler.unref()
  await Promise.all(fillers.map(connected))
  let stopped: Promise<void> | undefined
  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    stop() {
      stopped ??= (async () => {
        for (const filler of fillers) filler.destroy()
        Atomics.store(release, 0, 1)
        Atomics.notify(release, 0)
        await worker.terminate()
      })()
      return stopped
    },
  }
}
