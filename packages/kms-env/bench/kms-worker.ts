// The KMS test endpoint in its own thread: like real KMS, its work (parsing, AES, answering) must not
// run on the event loop of the code being measured.
import { parentPort } from 'node:worker_threads'
import { startKms } from '@rdskit/testing'

const kms = await startKms({ aliases: ['alias/bench'] })
parentPort?.on('message', async (message: { latency?: number; stop?: boolean }) => {
  if (message.latency !== undefined) kms.faults.latency(message.latency)
  if (message.stop) await kms.stop()
  parentPort?.postMessage({ ok: true })
})
parentPort?.postMessage({ url: kms.url, region: kms.region, credentials: kms.credentials })
