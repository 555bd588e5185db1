// Command-line options of the bench scripts: every number has a full-run and a --quick default, a
// bad value stops the script with a message naming the option (exit 2), and --help prints the usage.

import { parseArgs } from 'node:util'

export interface NumberOption {
  full: number
  quick: number
  /** Whole numbers only. @default true */
  integer?: boolean
}

export interface Parsed<Numbers extends string, Strings extends string, Flags extends string> {
  quick: boolean
  numbers: Record<Numbers, number>
  strings: Partial<Record<Strings, string>>
  flags: Record<Flags, boolean>
}

/** Stops the script with `message` and the usage, as for any command-line mistake. */
export function usageError (message: string, usage: string): never {
  console.error(`${message}\n\n${usage}`)
  process.exit(2)
}

export function parseOptions<Numbers extends string, Strings extends string = never, Flags extends string = never> (
  usage: string,
  spec: { numbers: Record<Numbers, NumberOption>; strings?: readonly Strings[]; flags?: readonly Flags[] }
): Parsed<Numbers, Strings, Flags> {
  const numberNames = Object.keys(spec.numbers) as Numbers[]
  const stringNames = spec.strings ?? []
  const flagNames = spec.flags ?? []
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      options: {
        ...Object.fromEntries([...numberNames, ...stringNames].map((name) => [name, { type: 'string' as const }])),
        ...Object.fromEntries(flagNames.map((name) => [name, { type: 'boolean' as const, default: false }])),
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }).values
  } catch (error) {
    usageError((error as Error).message, usage)
  }
  if (values.help === true) {
    console.log(usage)
    process.exit(0)
  }
  const quick = values.quick === true
  const numbers = {} as Record<Numbers, number>
  for (const name of numberNames) {
    const { full, quick: short, integer = true } = spec.numbers[name]
    const raw = values[name] as string | undefined
    if (raw === undefined) {
      numbers[name] = quick ? short : full
      continue
    }
    const value = Number(raw)
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      usageError(`--${name} must be a positive ${integer ? 'whole ' : ''}number, got ${JSON.stringify(raw)}`, usage)
    }
    numbers[name] = value
  }
  const strings = Object.fromEntries(stringNames.map((name) => [name, values[name]])) as Partial<Record<Strings, string>>
  const flags = Object.fromEntries(flagNames.map((name) => [name, values[name] === true])) as Record<Flags, boolean>
  return { quick, numbers, strings, flags }
}
