// The one error type the client rejects promises with and reports to `error` listeners. Its `code`
// is either the server's own (an `error` frame) or one of the few the client adds, so a UI can branch
// on one field whichever side refused.

import type { ErrorCode } from '../../schemas/events.js'

/** What went wrong on this side of the socket, beside the codes the server sends. */
export type ClientErrorCode =
  /** No `ack` (or `error`) within `commandTimeoutMs` of the call; the command is dropped. */
  | 'timeout'
  /** A pause/resume/cancel was in flight when the socket dropped: whether it took effect is unknown. */
  | 'connection_lost'
  /** `close()` was called, or the server closed the stream for good, before the command was answered. */
  | 'client_closed'
  /** The server closed the stream with a "do not reconnect" code; see `closeCode`. */
  | 'closed_by_server'
  /** `GET` of the snapshot failed (see `status`); the client reconnects and tries again. */
  | 'snapshot_failed'
  /** The server sent a frame that is not JSON. */
  | 'invalid_frame'

export type DAGStreamErrorCode = ErrorCode | ClientErrorCode

export interface DAGStreamErrorDetails {
  /** The WebSocket close code, for `closed_by_server`. */
  closeCode?: number
  /** The HTTP status, for `snapshot_failed`. */
  status?: number
  /** For `invalid_value`: the JSON Pointer of the part of the decision's value at fault. */
  path?: string
  cause?: unknown
}

/**
 * @example
 * try { await client.decide('review', 'approve') } catch (error) {
 *   if (error instanceof DAGStreamError && error.code === 'gate_already_decided') showAlreadyDecided()
 * }
 */
export class DAGStreamError extends Error {
  override readonly name = 'DAGStreamError'
  readonly code: DAGStreamErrorCode
  readonly closeCode?: number
  readonly status?: number
  readonly path?: string

  constructor (code: DAGStreamErrorCode, message: string, details: DAGStreamErrorDetails = {}) {
    super(message, { cause: details.cause })
    this.code = code
    if (details.closeCode !== undefined) this.closeCode = details.closeCode
    if (details.status !== undefined) this.status = details.status
    if (details.path !== undefined) this.path = details.path
  }
}
