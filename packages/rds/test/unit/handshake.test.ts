import { describe, expect, it } from 'vitest'
import {
  filterBeforeReady,
  isReadOnlySession,
  newHandshake,
  readBackendMessage,
} from '../../src/connection/handshake.ts'

/** A StartupMessage 3.0 with one parameter, as postgres.js writes it. */
function startup(user: string): Buffer {
  const body = Buffer.from(`user\0${user}\0\0`)
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + body.length, 0)
  head.writeUInt32BE(196608, 4)
  return Buffer.concat([head, body])
}

/** A typed frontend or backend message. */
function message(type: string, body: Buffer | string): Buffer {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body)
  const head = Buffer.alloc(5)
  head.write(type, 0, 'latin1')
  head.writeUInt32BE(4 + payload.length, 1)
  return Buffer.concat([head, payload])
}

const authRequest = (kind: number) => {
  const body = Buffer.alloc(4)
  body.writeUInt32BE(kind, 0)
  return message('R', body)
}

describe('filterBeforeReady', () => {
  it('drops a StartupMessage queued for a dead socket in front of this socket own one (the 08P01 desync)', () => {
    const state = newHandshake()
    const own = startup('second')
    expect(filterBeforeReady(Buffer.concat([startup('first'), own]), state)).toEqual(own)
    expect(state.startupSent).toBe(true)
  })

  it('drops statements queued for a dead socket in front of the StartupMessage', () => {
    const own = startup('app')
    const stale = Buffer.concat([message('P', 'x\0select 1\0\0\0'), message('S', '')])
    expect(filterBeforeReady(Buffer.concat([stale, own]), newHandshake())).toEqual(own)
  })

  it('passes a lone StartupMessage through untouched (the same buffer)', () => {
    const own = startup('app')
    expect(filterBeforeReady(own, newHandshake())).toBe(own)
  })

  it('keeps a password message only when the server asked for one', () => {
    const state = newHandshake()
    filterBeforeReady(startup('app'), state)
    const answer = message('p', 'SCRAM-SHA-256\0')
    expect(filterBeforeReady(answer, state).length).toBe(0)
    const request = authRequest(10)
    readBackendMessage(request, 0, request.length, state)
    expect(filterBeforeReady(answer, state)).toBe(answer)
    expect(filterBeforeReady(answer, state).length).toBe(0)
  })
})

describe('readBackendMessage', () => {
  it('reads in_hot_standby and the SQLSTATE of an ErrorResponse', () => {
    const state = newHandshake()
    const status = message('S', 'in_hot_standby\0on\0')
    readBackendMessage(status, 0, status.length, state)
    expect(isReadOnlySession(state)).toBe(true)
    const error = message('E', 'SFATAL\0C57P01\0Mterminating connection due to administrator command\0\0')
    readBackendMessage(error, 0, error.length, state)
    expect(state.lastSqlstate).toBe('57P01')
  })

  it('trusts in_hot_standby over default_transaction_read_only (a role may be read-only on purpose)', () => {
    const state = newHandshake()
    for (const text of ['default_transaction_read_only\0on\0', 'in_hot_standby\0off\0']) {
      const status = message('S', text)
      readBackendMessage(status, 0, status.length, state)
    }
    expect(isReadOnlySession(state)).toBe(false)
  })
})
