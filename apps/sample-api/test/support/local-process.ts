import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { appDir } from '../../src/local/paths.ts'

export interface LocalProcess {
  child: ChildProcess
  url: string
  /** Everything printed so far (grows while the process runs). */
  output(): { stdout: string; stderr: string }
  /** SIGINT, as Ctrl-C sends; resolves to the exit code. */
  interrupt(): Promise<number | null>
}

/**
 * Spawns scripts/local.ts (what `pnpm start` runs) on a free port and waits for its URL; `fromAppDir` runs
 * the copy of the app found there instead.
 */
export const startLocalProcess = async (
  env: Record<string, string>,
  fromAppDir = appDir,
): Promise<LocalProcess> => {
  const child = spawn(process.execPath, [join(fromAppDir, 'scripts', 'local.ts')], {
    cwd: fromAppDir,
    env: { ...process.env, PORT: '0', DATABASE_URL: '', KMS_KEY_ID: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 90 s:\n${stderr}`)), 90_000)
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (match?.[1]) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening:\n${stderr}`)))
  })
  return {
    child,
    url,
    output: () => ({ stdout, stderr }),
    interrupt: () =>
      new Promise((resolve) => {
        child.once('exit', (code) => resolve(code))
        child.kill('SIGINT')
      }),
  }
}

/** fetch with a JSON body and a parsed JSON answer. */
export const caller =
  (url: string) =>
  async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { res, json: text ? JSON.parse(text) : undefined }
  }
