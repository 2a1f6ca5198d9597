import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/** Where a timed-out Decrypt was stuck: opening the connection, or waiting for KMS's answer. */
export type Stall = 'connect' | 'response'

interface Opened {
  at: number
  connected: boolean
}

/** How many recent connections are remembered: enough for a few keys' attempts, bounded for a long life. */
const remembered = 16

/**
 * Remembers whether the TCP connects of one KMS client completed, so a timeout can say "no route"
 * (a connect never completed: no NAT gateway or VPC endpoint) apart from "slow KMS" (connected, answer late).
 */
export class ConnectWatch {
  readonly #opened: Opened[] = []

  track(stream: Duplex | null | undefined): void {
    const socket = stream as Socket | null | undefined
    if (!socket) return
    const opened: Opened = { at: performance.now(), connected: socket.connecting !== true }
    if (!opened.connected) socket.once('connect', () => (opened.connected = true))
    this.#opened.push(opened)
    if (this.#opened.length > remembered) this.#opened.shift()
  }

  /**
   * Where a Decrypt started at `since` (a `performance.now()` time) was stuck: 'connect' when a connection
   * it opened never completed; 'response' otherwise (its connections completed, or it reused a live one).
   */
  stallSince(since: number): Stall {
    return this.#opened.some((o) => o.at >= since && !o.connected) ? 'connect' : 'response'
  }
}

// The SDK's own agents are `{ keepAlive: true, maxSockets: 50 }`; these keep that and report each socket.
const agentOptions = { keepAlive: true, maxSockets: 50 }

/** `agent` with its `createConnection` (the documented hook for custom agents) reporting to `watch`. */
function watching<T extends HttpAgent>(agent: T, watch: ConnectWatch): T {
  const create = agent.createConnection.bind(agent)
  agent.createConnection = (...args) => {
    const socket = create(...args)
    watch.track(socket)
    return socket
  }
  return agent
}

/** http and https agents (the SDK's defaults) whose connections `watch` tracks. */
export function watchedAgents(watch: ConnectWatch): { httpAgent: HttpAgent; httpsAgent: HttpsAgent } {
  return {
    httpAgent: watching(new HttpAgent(agentOptions), watch),
    httpsAgent: watching(new HttpsAgent(agentOptions), watch),
  }
}
