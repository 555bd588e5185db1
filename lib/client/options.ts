// The client's options: their defaults, and the checks that make a bad value throw at creation with
// a message that says what to do, instead of misbehaving at the first reconnect.

import type { BackoffOptions } from './backoff.js'
import type { DAGStore } from './store.js'
import type { FetchLike, WebSocketConstructor } from './transport.js'
import { OptionChecks } from '../shared/option-checks.js'

export { DEFAULT_PREFIX } from '../shared/prefix.js'
/** With `transport: 'auto'`: WebSocket connections in a row that fail before their hello, before the client uses SSE. */
export const AUTO_FALLBACK_AFTER_FAILURES = 3

/** How long a command may wait for its `ack`, queued time included. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000

export interface DAGStreamClientOptions<Store extends DAGStore = DAGStore> {
  /** The DAG to follow. */
  dagId: string
  /**
   * The HTTP origin of the API (`http(s)://host[:port][/path]`); the stream URL is derived from it.
   * @default location.origin in a browser; required elsewhere
   */
  baseUrl?: string
  /** The plugin's `prefix` option. @default '/api/dags' */
  prefix?: string
  /**
   * The WebSocket implementation. Node 20 has none built in: pass `WebSocket` from `ws`.
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketConstructor
  /**
   * What carries the stream: `websocket`; `sse` (Server-Sent Events from `GET {prefix}/:id/events`, client
   * events by `POST {prefix}/:id/commands`, both through `fetch`) where proxies break WebSockets; or
   * `auto`: WebSocket first, and SSE for the rest of the client's life once
   * 3 (AUTO_FALLBACK_AFTER_FAILURES) WebSocket connections in a row failed before the server's hello (the
   * `transport` event and property say so). `auto` without any WebSocket implementation uses SSE.
   * @default 'websocket'
   */
  transport?: 'websocket' | 'sse' | 'auto'
  /**
   * Used to GET the snapshot. Wrap it to add credentials or an Authorization header.
   * @default globalThis.fetch
   */
  fetch?: FetchLike
  /**
   * Extra query parameters for the stream URL, read again before every connection attempt. Browsers
   * cannot set headers on a WebSocket, so this is where a fresh access token goes after the server
   * closed with 4401 (credentials expired). `since` and `epoch` are the client's own and win.
   * @example streamParams: () => ({ token: auth.currentToken() })
   */
  streamParams?: () => Record<string, string>
  /** Where the stream is applied. @default createDAGStore() */
  store?: Store
  /** The reconnect schedule. @default { minDelayMs: 1000, maxDelayMs: 30000, resetAfterMs: 10000 } */
  backoff?: BackoffOptions
  /**
   * How long `send` waits for the server's answer, counted from the call: time spent queued while
   * disconnected counts too. Past it the promise rejects with code `timeout`. @default 10000
   */
  commandTimeoutMs?: number
  /** Connect at once. With false, nothing happens until `connect()`. @default true */
  connect?: boolean
}

/** The checks of the client's (and the hook's) options: a bad value throws a TypeError naming it. */
export const checkOption: OptionChecks = new OptionChecks('fastify-dag-stream/client: ', (message) => new TypeError(message))

/** What `transport` may be. */
export const TRANSPORTS = ['websocket', 'sse', 'auto'] as const

/** The API origin: the option, or the page's own origin in a browser. */
export function resolveBaseUrl (baseUrl: string | undefined): string {
  const resolved = baseUrl ?? globalThis.location?.origin
  if (typeof resolved !== 'string' || !URL.canParse(resolved)) {
    checkOption.reject('baseUrl', 'be an absolute URL like "https://api.example.com"', baseUrl)
  }
  // Without the trailing slash, so that baseUrl + prefix is one path whether or not the user wrote one.
  return resolved.replace(/\/+$/, '')
}

/** Picks an implementation: the option, else the global one, else a message naming what to pass. */
export function resolveImplementation<T> (name: string, option: T | undefined, global: T | undefined, hint: string): T {
  const implementation = option ?? global
  if (typeof implementation !== 'function') {
    throw new TypeError(`fastify-dag-stream/client: no ${name} implementation: ${hint}`)
  }
  return implementation
}
