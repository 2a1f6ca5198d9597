import { vi } from 'vitest'

/**
 * Captures what is written to stdout and stderr, in order (Powertools Metrics and Logger write JSON lines
 * there; the Logger's warn and error go to stderr).
 */
export function captureStdout() {
  const lines: string[] = []
  const collect = (chunk: unknown) => {
    for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(line)
    return true
  }
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(collect),
    vi.spyOn(process.stderr, 'write').mockImplementation(collect),
  ]
  return {
    lines,
    json: () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore()
    },
  }
}
