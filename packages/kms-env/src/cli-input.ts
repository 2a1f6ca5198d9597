import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

export type CliStdin = AsyncIterable<Buffer | string> & { isTTY?: boolean }

/** Ctrl-C at the hidden prompt: nothing was sent anywhere. */
export class Cancelled extends Error {}

const isStream = (stdin: CliStdin): stdin is CliStdin & NodeJS.ReadableStream =>
  typeof (stdin as Partial<NodeJS.ReadableStream>).on === 'function'

/**
 * One line typed at a terminal, never echoed: readline puts the terminal in raw mode and does the line
 * editing itself, and its echo goes to a stream that drops it. The prompt is written only once raw mode
 * is on, so nothing typed after it is echoed by the terminal either.
 */
function readHiddenLine(stdin: NodeJS.ReadableStream, prompt: (text: string) => void): Promise<string> {
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() })
  const rl = createInterface({ input: stdin, output: muted, terminal: true, historySize: 0 })
  const line = new Promise<string>((resolve, reject) => {
    let settled = false
    const finish = (outcome: () => void) => {
      if (settled) return
      settled = true
      rl.close()
      prompt('\n')
      outcome()
    }
    rl.on('line', (line) => finish(() => resolve(line)))
    rl.on('SIGINT', () => finish(() => reject(new Cancelled('cancelled; nothing was encrypted.'))))
    // Ctrl-D on an empty line.
    rl.on('close', () => finish(() => resolve('')))
  })
  prompt('Type the value and press Enter (it is not shown; pipe it in for a multi-line value): ')
  return line
}

/** The value to encrypt: a hidden line at a terminal, else all of stdin, byte for byte. */
export async function readValue(stdin: CliStdin, prompt: (text: string) => void): Promise<Buffer> {
  if (stdin.isTTY && isStream(stdin)) return Buffer.from(await readHiddenLine(stdin, prompt))
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks)
}
