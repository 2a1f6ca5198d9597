import { createSocket } from 'node:dgram'

/**
 * A stand-in X-Ray daemon on 127.0.0.1: the X-Ray SDK sends each (sub)segment document over UDP as
 * `{"format":"json","version":1}\n<document>`; this collects the documents.
 */
export async function startXrayDaemon() {
  const socket = createSocket('udp4')
  const documents: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  socket.on('message', (message) => {
    const [, body] = message.toString('utf8').split('\n', 2)
    if (body) documents.push(JSON.parse(body) as Record<string, unknown>)
    for (const wake of waiters.splice(0)) wake()
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  return {
    address: `127.0.0.1:${port}`,
    documents,
    /** Resolves once a document matching `test` arrived (UDP on loopback: no sleep, wait for the datagram). */
    async waitFor(test: (doc: Record<string, unknown>) => boolean, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = documents.find(test)
        if (found) return found
        if (Date.now() > deadline) throw new Error(`no X-Ray document matched within ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 100).unref()
        })
      }
    },
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}
