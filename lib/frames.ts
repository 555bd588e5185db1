// Control frames built in more than one place.

import type { ErrorCode, ErrorFrame } from '../schemas/events.js'

/** An `error` frame, answering the client event `id` when it had one. */
export function errorFrame (code: ErrorCode, message: string, id?: string): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code, message }
  if (id !== undefined) frame.id = id
  return frame
}
