/** A loopback TCP proxy in front of a server, for faults the server itself cannot produce. */
export interface StartTcpProxyOptions {
  target: { host: string; port: number }
  /** Hold each new connection this long before connecting it upstream (a slow server start / resume). */
  acceptDelayMs?: number
}

/** What had crossed the proxy when `resetAfterResponseStarts` reset the connection. */
export interface ResponseStarted {
  /** Client bytes forwarded since the fault was armed (the request). */
  requestBytes: number
  /** Server bytes forwarded to the client before the reset (the start of the answer). */
  responseBytes: number
}

export interface TcpProxy {
  host: string
  port: number
  /** Open client connections. */
  connections(): number
  /** Bytes swallowed so far by `blackhole` and `silenceOpenConnections` (both directions). */
  swallowed(): number
  /** Destroy every open connection with a TCP RST (socket.resetAndDestroy) on both sides. */
  resetAll(): void
  /**
   * Reset the next connection that sends client bytes, after `afterClientBytes` more bytes: with the default 0
   * the request never reaches the server.
   */
  resetOnNextData(afterClientBytes?: number): void
  /**
   * Reset the next connection that sends client bytes once those bytes are in the server's receive buffer and
   * `confirm` resolved (both directions keep flowing meanwhile). A `confirm` that waits for the server to be
   * executing the statement (its backend waiting on a lock the test holds, say) makes the reset land after the
   * request reached the server and before any answer. Resolves once the reset was sent; rejects (after
   * resetting) when `confirm` rejects.
   */
  resetAfterRequest(confirm?: () => Promise<unknown>): Promise<void>
  /**
   * Reset the next connection that sends client bytes right after the first chunk of the server's answer was
   * forwarded to the client: the answer started and was cut (use an answer larger than one chunk, ~64 kB).
   */
  resetAfterResponseStarts(): Promise<ResponseStarted>
  /**
   * The connections open now go silent: bytes are swallowed both ways and nothing is closed (a peer that
   * vanished without FIN or RST: a NAT entry expired, a failed-over node). New connections work.
   */
  silenceOpenConnections(): void
  /** Stop forwarding and answering on every connection, new ones too: bytes are swallowed, nothing is closed. */
  blackhole(on: boolean): void
  setAcceptDelay(ms: number): void
  stop(): Promise<void>
}
