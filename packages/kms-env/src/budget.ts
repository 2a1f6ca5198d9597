/**
 * The time one Decrypt may take, every attempt and the SDK's backoff between them included: an abort
 * signal that fires at the deadline. An invocation that waits for a Decrypt already in flight (the
 * prefetch started at INIT) brings the deadline forward to its own, never back.
 */
export class Budget {
  /** `performance.now()` when the Decrypt started. */
  readonly startedAt = performance.now()
  readonly #controller = new AbortController()
  #deadline: number
  #timer: NodeJS.Timeout | undefined
  #settled = false

  constructor(ms: number) {
    this.#deadline = this.startedAt + ms
    this.#arm()
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** The whole budget as it stands: from the start to the deadline (ms, ≤ 0 when there was no time). */
  get ms(): number {
    return Math.round(this.#deadline - this.startedAt)
  }

  get expired(): boolean {
    return this.#controller.signal.aborted
  }

  /** Brings the deadline forward to `at` (a `performance.now()` time) when that is sooner. */
  tighten(at: number): void {
    if (at >= this.#deadline || this.expired || this.#settled) return
    this.#deadline = at
    this.#arm()
  }

  /** Stops the timer once the Decrypt settled. */
  done(): void {
    this.#settled = true
    clearTimeout(this.#timer)
  }

  #arm(): void {
    clearTimeout(this.#timer)
    const left = this.#deadline - performance.now()
    if (left <= 0) {
      this.#controller.abort(
        Object.assign(new Error(`Decrypt did not finish within its ${this.ms} ms budget.`), {
          name: 'TimeoutError',
        }),
      )
      return
    }
    this.#timer = setTimeout(() => this.#arm(), left)
    // The pending request keeps the process alive while it matters; the timer alone must not.
    this.#timer.unref()
  }
}

/** A promise that rejects when `signal` aborts, so a wait ends at the deadline wherever the SDK is. */
export function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason)
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}
