import { parseArgs } from 'node:util'
import { type CliCommand, cliSpec } from './cli-spec.ts'

/** A mistake in how the CLI was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {}

export type Flags = Record<string, string | boolean | undefined>

type FlagSpec = { type: 'string' | 'boolean'; short?: string }

const flagsOf = (command: CliCommand): Record<string, FlagSpec> => ({
  ...cliSpec.commands[command].flags,
  ...cliSpec.globalFlags,
})

/** Edits (insert, delete, replace, swap two neighbours) between two names. */
const distance = (a: string, b: string): number => {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[]
      const up = d[i - 1] as number[]
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1)
    }
  return (d[a.length] as number[])[b.length] as number
}

/** The known name closest to `typed`, if it is close enough to be what was meant. */
export const closest = (typed: string, known: readonly string[]): string | undefined => {
  const prefixed = known.filter((k) => k.startsWith(typed))
  if (typed.length >= 2 && prefixed.length === 1) return prefixed[0]
  const [best] = known
    .map((k) => ({ k, d: distance(typed, k) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3)))
    .sort((x, y) => x.d - y.d)
  return best?.k
}

const unknownOption = (command: CliCommand, name: string): UsageError => {
  const other = Object.entries(cliSpec.commands).find(
    ([c, spec]) => c !== command && Object.hasOwn(spec.flags, name),
  )
  if (other) return new UsageError(`'--${name}' is an option of '${other[0]}', not of '${command}'.`)
  const suggestion = closest(name, Object.keys(flagsOf(command)))
  return new UsageError(
    `unknown option '--${name}' for '${command}'.${suggestion ? ` Did you mean '--${suggestion}'?` : ''}`,
  )
}

/**
 * Checks every option name before node:util's parseArgs sees it, so that a typo gets a suggestion
 * instead of parseArgs's advice about positionals. Values of string options are skipped.
 */
const checkNames = (command: CliCommand, args: readonly string[]): void => {
  const flags = flagsOf(command)
  const shorts = new Map(Object.entries(flags).flatMap(([n, f]) => (f.short ? [[f.short, n]] : [])))
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--') return
    if (arg.startsWith('--')) {
      const [name = '', value] = arg.slice(2).split('=', 2)
      const flag = flags[name]
      if (!flag) throw unknownOption(command, name)
      if (flag.type !== 'string' || value !== undefined) continue
      if (i + 1 >= args.length) {
        const placeholder = (flag as { value?: string }).value ?? 'VALUE'
        throw new UsageError(`'--${name}' needs a value: --${name} ${placeholder}.`)
      }
      i++
    } else if (arg.startsWith('-') && arg.length > 1) {
      for (const short of arg.slice(1))
        if (!shorts.has(short)) throw new UsageError(`unknown option '-${short}' for '${command}'.`)
    }
  }
}

export function parse(command: CliCommand, args: string[]): { flags: Flags; positionals: string[] } {
  checkNames(command, args)
  const options = Object.fromEntries(
    Object.entries(flagsOf(command)).map(([name, f]) => [
      name,
      { type: f.type, ...(f.short ? { short: f.short } : {}) },
    ]),
  )
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true })
    return { flags: values as Flags, positionals }
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

/** `unknown command 'x'`, with the closest command, or the way to do what `decrypt` would. */
export function unknownCommand(typed: string): UsageError {
  if (typed === 'decrypt')
    return new UsageError(
      "unknown command 'decrypt'. 'check' decrypts variables and reports OK or FAILED, never the value.",
    )
  const suggestion = closest(typed, Object.keys(cliSpec.commands))
  return new UsageError(`unknown command '${typed}'.${suggestion ? ` Did you mean '${suggestion}'?` : ''}`)
}
