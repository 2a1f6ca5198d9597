import type { Server } from 'node:net'

/**
 * Binds `server` to an ephemeral port on 127.0.0.1 and resolves with that port. The server is unref'd: a
 * test that forgets to stop it does not keep the process alive.
 */
export async function listenLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  server.unref()
  const address = server.address()
  return typeof address === 'object' && address ? address.port : 0
}
