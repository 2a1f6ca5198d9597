import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { FaultState } from './faults.ts'
import { KeyStore } from './keystore.ts'
import { type Body, contextOf, keyRefOf, operations } from './operations.ts'
import { KmsProtocolError } from './protocol-error.ts'
import type { KmsCall, KmsEndpoint, StartKmsOptions } from './types.ts'

const maxBody = 1024 * 1024
const targetPrefix = 'TrentService.'
const credentials = {
  accessKeyId: 'AKIARDSKITTESTKMS000',
  secretAccessKey: 'rdskit-kms-test-endpoint-not-a-secret',
}

// Servers still open when the process exits are closed here; each is also unref'ed so an
// open endpoint never keeps a test process or a local dev script alive on its own.
const open = new Set<Server>()
let exitHookInstalled = false
function track(server: Server): void {
  open.add(server)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const s of open) {
      s.closeAllConnections()
      s.close()
    }
  })
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBody) {
        reject(new KmsProtocolError('ValidationException', 'Request body too large', 413))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function answer(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const json = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(json),
    'x-amzn-requestid': crypto.randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  })
  res.end(json)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts a KMS-compatible endpoint (JSON 1.1 protocol) on 127.0.0.1 for tests and local development.
 * Never for production: keys live in memory, signatures are not checked.
 */
export async function startKms(options: StartKmsOptions = {}): Promise<KmsEndpoint> {
  const region = options.region ?? 'us-east-1'
  const accountId = options.accountId ?? '111122223333'
  const store = new KeyStore(region, accountId)
  const faults = new FaultState(store)
  const log: KmsCall[] = []

  for (const alias of options.aliases ?? [])
    store.alias(alias, store.create(`rdskit test key ${alias}`).keyId)
  if (options.latencyMs !== undefined) faults.latency(options.latencyMs)

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target']
    const operation =
      typeof target === 'string' && target.startsWith(targetPrefix) ? target.slice(targetPrefix.length) : ''
    const call: KmsCall = {
      operation,
      keyId: undefined,
      encryptionContext: undefined,
      status: 0,
      errorType: undefined,
      at: Date.now(),
    }
    log.push(call)
    const reply = (status: number, body: unknown, errorType?: string) => {
      call.status = status
      call.errorType = errorType
      answer(res, status, body, errorType)
    }
    try {
      if (req.method !== 'POST' || !operation) {
        throw new KmsProtocolError(
          'UnknownOperationException',
          'Expected POST / with x-amz-target: TrentService.<Op>',
        )
      }
      let body: Body
      try {
        const parsed: unknown = JSON.parse((await readBody(req)) || '{}')
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('not an object')
        body = parsed as Body
      } catch (error) {
        if (error instanceof KmsProtocolError) throw error
        throw new KmsProtocolError('SerializationException', 'The request body is not a JSON object.')
      }
      const keyRef = keyRefOf(operation, body)
      if (typeof body.KeyId === 'string') call.requestedKeyId = body.KeyId
      call.keyId = keyRef === undefined ? undefined : (store.find(keyRef)?.keyId ?? keyRef)
      try {
        call.encryptionContext = contextOf(body)
      } catch {}
      if (faults.latencyMs > 0) await sleep(faults.latencyMs)
      const fault = faults.decide({ keyRef, keyId: call.keyId, context: call.encryptionContext })
      // Left unanswered: status stays 0 in the log, and the socket stays open until the client gives up.
      if (fault === 'hang') return
      if (fault) throw fault
      // hasOwn: 'constructor' or 'toString' must not reach Object.prototype.
      const op = Object.hasOwn(operations, operation) ? operations[operation] : undefined
      if (!op)
        throw new KmsProtocolError(
          'UnknownOperationException',
          `The test endpoint does not implement ${operation}`,
        )
      reply(200, op(body, store))
    } catch (error) {
      if (res.headersSent || res.destroyed) return
      const e =
        error instanceof KmsProtocolError
          ? error
          : new KmsProtocolError('KMSInternalException', 'The test endpoint failed unexpectedly.', 500)
      reply(e.status, { __type: e.type, message: e.message }, e.type)
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res)
  })
  server.on('connection', (socket) => socket.unref())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.unref()
  track(server)
  const { port } = server.address() as AddressInfo

  let stopped: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    credentials,
    async createKey({ alias, description } = {}) {
      const key = store.create(description)
      if (alias) store.alias(alias, key.keyId)
      return store.view(key)
    },
    disableKey(key) {
      store.resolve(key).enabled = false
    },
    enableKey(key) {
      store.resolve(key).enabled = true
    },
    keys: () => store.list().map((key) => store.view(key)),
    faults,
    calls: () =>
      log.map((call) => ({
        ...call,
        encryptionContext: call.encryptionContext && { ...call.encryptionContext },
      })),
    clearCalls() {
      log.length = 0
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        open.delete(server)
        server.close(() => resolve())
        // Hung calls and idle keep-alive sockets would otherwise hold close() open.
        server.closeAllConnections()
      })
      return stopped
    },
  }
}
