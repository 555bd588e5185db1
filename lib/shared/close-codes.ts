// The one table of WebSocket close codes this server sends, and what a client should do about each.
//
// Application codes follow one rule so that a client written against an older version still does the
// right thing with a newer code: 4000–4499 mean "reconnect", 4500–4999 mean "do not reconnect".

export const CloseCode = {
  /** The client closed on purpose. */
  NORMAL: 1000,
  /** The server is shutting down (`app.close()`); another instance, or this one restarted, will take the client. */
  GOING_AWAY: 1001,
  /** The peer vanished without a close frame (set by the WebSocket implementation, never sent). */
  ABNORMAL: 1006,
  /** A text frame that is not valid UTF-8 (sent by ws itself): the client would send it again. */
  INVALID_PAYLOAD: 1007,
  /** Rate limit, too much invalid input, or a message in too many fragments: the client is misbehaving, reconnecting repeats it. */
  POLICY_VIOLATION: 1008,
  /** A frame larger than `maxPayload`: the client would send it again. */
  MESSAGE_TOO_BIG: 1009,
  /** The server failed unexpectedly while serving this socket. */
  INTERNAL_ERROR: 1011,
  /** The client read too slowly: its outbound buffer passed `maxBufferedBytes`. Reconnect and resume or resync. */
  SLOW_CONSUMER: 4000,
  /**
   * The credentials expired: at the `expiresAt` that `authorize` returned, or `authorize` threw
   * UnauthorizedError at a periodic re-check. Reconnect with fresh credentials.
   */
  UNAUTHORIZED: 4401,
  /** `authorize` no longer allows this client to view the DAG. */
  FORBIDDEN: 4503
} as const

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/**
 * Whether a client should reconnect after the socket closed with `code`.
 * Unknown codes in 1000–3999 are treated as transient (reconnect), since they come from proxies and
 * browsers rather than from this server.
 */
export function shouldReconnect (code: number): boolean {
  if (code >= 4500 && code <= 4999) return false
  if (code >= 4000) return true
  return (
    code !== CloseCode.NORMAL &&
    code !== CloseCode.INVALID_PAYLOAD &&
    code !== CloseCode.POLICY_VIOLATION &&
    code !== CloseCode.MESSAGE_TOO_BIG
  )
}

/** Human-readable reasons, also used in the generated AsyncAPI document. */
export const closeCodeDescriptions: Record<CloseCode, string> = {
  [CloseCode.NORMAL]: 'Closed on purpose. Do not reconnect.',
  [CloseCode.GOING_AWAY]: 'Server shutting down. Reconnect with backoff and resume.',
  [CloseCode.ABNORMAL]: 'Connection lost without a close frame. Reconnect with backoff and resume.',
  [CloseCode.INVALID_PAYLOAD]: 'A text frame that is not valid UTF-8. Do not reconnect.',
  [CloseCode.POLICY_VIOLATION]: 'Rate limit exceeded, too much invalid input, or a message in too many fragments. Do not reconnect.',
  [CloseCode.MESSAGE_TOO_BIG]: 'A client frame exceeded maxPayload. Do not reconnect.',
  [CloseCode.INTERNAL_ERROR]: 'Unexpected server error. Reconnect with backoff and resume.',
  [CloseCode.SLOW_CONSUMER]: 'The client read too slowly. Reconnect and resume (or resync).',
  [CloseCode.UNAUTHORIZED]: 'Credentials expired. Reconnect with fresh credentials.',
  [CloseCode.FORBIDDEN]: 'No longer authorized to view this DAG. Do not reconnect.'
}
