import { once } from 'node:events'
import { Worker } from 'node:worker_threads'

export interface KmsThread {
  url: string
  region: string
  credentials: { accessKeyId: string; secretAccessKey: string }
  latency(ms: number): Promise<void>
  stop(): Promise<void>
}

/** Starts `startKms()` in a worker thread (see kms-worker.ts). */
export async function startKmsThread(): Promise<KmsThread> {
  const worker = new Worker(new URL('./kms-worker.ts', import.meta.url))
  const [info] = (await once(worker, 'message')) as [Omit<KmsThread, 'latency' | 'stop'>]
  const ask = async (message: object) => {
    worker.postMessage(message)
    await once(worker, 'message')
  }
  return {
    ...info,
    latency: (ms) => ask({ latency: ms }),
    async stop() {
      await ask({ stop: true })
      await worker.terminate()
    },
  }
}
