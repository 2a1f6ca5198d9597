import type { Socket } from 'node:net'

/** Ends `socket` with a TCP reset (the peer sees ECONNRESET), as a broken network path would. */
export function resetSocket(socket: Socket | undefined): void {
  if (!socket || socket.destroyed) return
  // resetAndDestroy only works on a connected TCP socket; before that plain destroy is all there is.
  if (socket.readyState === 'opening') socket.destroy()
  else socket.resetAndDestroy()
}
