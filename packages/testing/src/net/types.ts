/** A loopback TCP proxy in front of a server, for faults the server itself cannot produce. */
export interface StartTcpProxyOptions {
  target: { host: string; port: number }
  /** Hold each new connection this long before connecting it upstream (a slow server start / resume). */
  acceptDelayMs?: number
}

export interface TcpProxy {
  host: string
  port: number
  /** Open client connections. */
  connections(): number
  /** Destroy every open connection with a TCP RST (socket.resetAndDestroy) on both sides. */
  resetAll(): void
  /** Reset the next connection that sends a client message after `afterClientBytes` more bytes. */
  resetOnNextData(afterClientBytes?: number): void
  /** Stop forwarding and answering: bytes are swallowed, nothing is closed (a silent dead peer). */
  blackhole(on: boolean): void
  setAcceptDelay(ms: number): void
  stop(): Promise<void>
}
