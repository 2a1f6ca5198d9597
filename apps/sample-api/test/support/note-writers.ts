import { randomUUID } from 'node:crypto'

/** One HTTP request a client made, as it saw it. */
export interface Attempt {
  client: number
  key: string
  title: string
  /** performance.now() when the request was sent, and its duration. */
  began: number
  ms: number
  /** 0 when fetch itself failed (the local server did not answer at all). */
  status: number
  /** The problem type of an error answer (`urn:rdskit:problem:…`). */
  type: string | undefined
  retryAfter: string | null
  requestId: string | null
  /** The note id of a 201. */
  id: string | undefined
  /** 1 for the first request of a key, 2 for its first retry… */
  try: number
}

export interface NoteWriters {
  readonly attempts: Attempt[]
  /** title → note id, for every 201 (an acknowledged write). */
  readonly acknowledged: Map<string, string>
  /** Resolves once every client got a 201 for a request sent after `since`; rejects after `timeoutMs`. */
  allWroteAfter(since: number, timeoutMs: number): Promise<void>
  /** Stops the clients after their request in flight. */
  stop(): Promise<void>
}

export interface NoteWritersOptions {
  url: string
  clients: number
  /** Title prefix: the notes of this run are found by it at the end. */
  prefix: string
  /** The pause before a retry (a client honouring Retry-After would wait longer; this measures recovery). */
  retryPauseMs: number
  /** No request may outlive this: fetch is aborted after it, and the attempt recorded with status 0. */
  abortAfterMs: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Clients that each write notes one after another through `POST /notes`, every note with a fresh
 * Idempotency-Key, retrying a 503 (or a 5xx) with the same key until it is acknowledged, as a well-behaved
 * client of the sample API does. Every request is recorded.
 */
export function startNoteWriters(options: NoteWritersOptions): NoteWriters {
  const attempts: Attempt[] = []
  const acknowledged = new Map<string, string>()
  let stopped = false
  let sequence = 0

  const send = async (client: number, key: string, title: string, attempt: number): Promise<Attempt> => {
    const began = performance.now()
    const base = { client, key, title, began, try: attempt }
    try {
      const res = await fetch(`${options.url}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ title, tags: ['e2e-faults'] }),
        signal: AbortSignal.timeout(options.abortAfterMs),
      })
      const text = await res.text()
      const json = text ? (JSON.parse(text) as { id?: string; type?: string }) : {}
      return {
        ...base,
        ms: performance.now() - began,
        status: res.status,
        type: json.type,
        retryAfter: res.headers.get('retry-after'),
        requestId: res.headers.get('apigw-requestid'),
        id: res.status === 201 ? json.id : undefined,
      }
    } catch {
      const ms = performance.now() - began
      return { ...base, ms, status: 0, type: undefined, retryAfter: null, requestId: null, id: undefined }
    }
  }

  const writeOne = async (client: number) => {
    const key = randomUUID()
    const title = `${options.prefix} ${client}-${++sequence}`
    for (let attempt = 1; ; attempt++) {
      const result = await send(client, key, title, attempt)
      record(result)
      if (result.status === 201 && result.id) {
        acknowledged.set(title, result.id)
        return
      }
      if (result.status < 500 && result.status !== 0) return
      // Give up on this key only once the run is over: the write stays unacknowledged.
      if (stopped) return
      await sleep(options.retryPauseMs)
    }
  }

  /** Conditions waiting on the record: checked after each attempt is recorded. */
  const waiters = new Set<() => void>()
  const record = (attempt: Attempt) => {
    attempts.push(attempt)
    for (const check of waiters) check()
  }

  const loops = Array.from({ length: options.clients }, async (_, client) => {
    while (!stopped) await writeOne(client)
  })

  const wroteAfter = (since: number) => {
    const clients = new Set(attempts.filter((a) => a.status === 201 && a.began >= since).map((a) => a.client))
    return clients.size === options.clients
  }

  return {
    attempts,
    acknowledged,
    allWroteAfter: (since, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        const check = () => {
          if (!wroteAfter(since)) return
          done()
          resolve()
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`not every client wrote within ${timeoutMs} ms after the fault`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    stop: async () => {
      stopped = true
      await Promise.all(loops)
    },
  }
}
