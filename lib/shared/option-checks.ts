// The checks every options object runs (the plugin's, the Redis backplane's, the client's), with one
// wording: each message names the field and shows what it got. Who reports a bad value differs (the
// server throws InvalidOptionError, the browser client a TypeError), so each caller passes its own
// `fail`. Browser-safe: this module imports nothing.

/** Makes the error a bad option throws, from a message that already names the field. */
export type OptionFailure = (message: string) => Error

/** A value as a message shows it: JSON, except functions, NaN and ±Infinity (which JSON would show as null). */
export function showValue (value: unknown): string {
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'number') return String(value)
  return JSON.stringify(value) ?? String(value)
}

/** The checks of one options object: `label` starts every message (the function or package it is for). */
export class OptionChecks {
  readonly #label: string
  readonly #fail: OptionFailure

  constructor (label: string, fail: OptionFailure) {
    this.#label = label
    this.#fail = fail
  }

  /** Throws, with `"name" must <rule>, got <value>`. */
  reject (name: string, rule: string, value: unknown): never {
    throw this.#fail(`${this.#label}"${name}" must ${rule}, got ${showValue(value)}`)
  }

  /** A safe integer ≥ `min` (`rule` says so in words), or `fallback` when undefined (no fallback: required). */
  integer (name: string, value: unknown, fallback: number | undefined, min = 1, rule = 'be a positive integer'): number {
    if (value === undefined && fallback !== undefined) return fallback
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) this.reject(name, rule, value)
    return value
  }

  /** A delay or duration in ms: a finite number ≥ 0, or `fallback` when undefined. */
  milliseconds (name: string, value: unknown, fallback: number): number {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) this.reject(name, 'be a number of milliseconds ≥ 0', value)
    return value
  }

  /** One of `allowed`, or `fallback` when undefined. */
  oneOf<T extends string> (name: string, value: unknown, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) this.reject(name, `be one of ${allowed.join(', ')}`, value)
    return value as T
  }

  /** A function (its expected shape in `signature`), or `fallback` when undefined. */
  callback<T> (name: string, value: unknown, signature: string, fallback: T): T {
    if (value === undefined) return fallback
    if (typeof value !== 'function') this.reject(name, `be a function ${signature}`, value)
    return value as T
  }
}
