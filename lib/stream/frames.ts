// Frames built in more than one place.

import type { ErrorCode, ErrorFrame } from '../../schemas/events.js'

/** An `error` frame, answering the client event `id` when it had one; `path`: the part of a value at fault. */
export function errorFrame (code: ErrorCode, message: string, id?: string, path?: string): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code, message }
  if (id !== undefined) frame.id = id
  if (path !== undefined) frame.path = path
  return frame
}

/** The `id` of a client message, when it has a string one: what its error answer names. */
export function idOf (message: unknown): string | undefined {
  const id = (message as { id?: unknown } | null)?.id
  return typeof id === 'string' ? id : undefined
}

/**
 * `value` as UTF-8 JSON in a buffer of its own. Buffer.from() cuts small strings out of a shared 8 KiB
 * pool, and one retained slice keeps the whole block alive: a history of 190-byte events held ~1.1 KiB
 * each. A frame kept for resume must therefore own its memory.
 */
export function ownedJson (value: unknown): Buffer {
  const json = JSON.stringify(value)
  const frame = Buffer.allocUnsafeSlow(Buffer.byteLength(json))
  frame.write(json)
  return frame
}
