import net from 'node:net'
import { connect, routes } from './raw-handler.ts'

/**
 * The raw handler with one hand-made fix: its sockets set TCP_NODELAY, as libpq's and rds's do. postgres.js
 * leaves Nagle's algorithm on, so on a TLS connection its StartupMessage (written right after the client's
 * TLS Finished) waits for the server's delayed ACK, ~40 ms on Linux, on every new connection. This is the
 * fairest plaintext baseline for a cold start; bench/raw-handler.ts is the handler as users write it.
 */
const noDelaySocket = () =>
  new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({
      host: process.env.DB_HOST,
      port: Number(process.env.DB_PORT),
      noDelay: true,
    })
    socket.once('connect', () => resolve(socket)).once('error', reject)
  })

const sql = connect(process.env.DB_PASSWORD_PLAINTEXT, noDelaySocket)
export const handler = routes(() => sql)
