import { spawn } from 'node:child_process'

export interface RunToExitOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Written to the child's stdin, which is then closed (a secret goes here, never on the command line). */
  input?: string
}

export interface Exited {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `command` until it exits by itself and resolves with its exit code and everything it printed. */
export const runToExit = (command: string, args: string[], options: RunToExitOptions = {}): Promise<Exited> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
    // Without input the child reads an immediate end of file, as from /dev/null.
    child.stdin.end(options.input)
  })
