import { connect } from 'node:net'
import { expect, test } from 'vitest'
import { startStalledListener } from '../src/index.ts'

test('a TCP connect to the stalled listener never completes, and stop() releases it', async () => {
  const listener = await startStalledListener()
  const socket = connect({ host: listener.host, port: listener.port })
  const outcome = new Promise<string>((resolve) => {
    socket.once('connect', () => resolve('connected'))
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
  })
  // Time is the subject: a loopback connect completes in well under a millisecond when anything accepts it.
  const waited = await Promise.race([
    outcome,
    new Promise<string>((resolve) => setTimeout(() => resolve('still connecting'), 500)),
  ])
  expect(waited).toBe('still connecting')
  expect(socket.connecting).toBe(true)
  socket.destroy()
  await listener.stop()
  await listener.stop()
})
