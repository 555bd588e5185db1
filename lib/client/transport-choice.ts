// Which transport carries a client's stream, and the socket it opens: a WebSocket, or Server-Sent
// Events with client events by POST. With `transport: 'auto'` the choice can change once: after
// AUTO_FALLBACK_AFTER_FAILURES WebSocket connections in a row that failed before the server's hello,
// the client uses SSE for the rest of its life.

import { FetchEventStream } from './event-stream.js'
import { AUTO_FALLBACK_AFTER_FAILURES, resolveImplementation } from './options.js'
import {
  commandsUrl,
  eventStreamUrl,
  streamUrl,
  type FetchLike,
  type WebSocketConstructor,
  type WebSocketLike
} from './transport.js'

/** What carries the stream: a WebSocket, or Server-Sent Events with client events by POST. */
export type StreamTransport = 'websocket' | 'sse'

/** Where a stream's sockets go: the API, and the DAG. */
export interface StreamAddress {
  baseUrl: string
  prefix: string
  dagId: string
}

export class TransportChoice {
  readonly #address: StreamAddress
  readonly #fetch: FetchLike
  readonly #WebSocket: WebSocketConstructor | undefined
  #current: StreamTransport
  /** With `transport: 'auto'`: WebSocket connections in a row that closed before their hello. */
  #failedUpgrades: number | undefined

  constructor (
    option: 'websocket' | 'sse' | 'auto',
    WebSocketOption: WebSocketConstructor | undefined,
    fetch: FetchLike,
    address: StreamAddress
  ) {
    this.#address = address
    this.#fetch = fetch
    const WebSocketImplementation = WebSocketOption ?? globalThis.WebSocket
    // `auto` without any WebSocket (Node 20, nothing passed) has one transport left.
    this.#current = option === 'sse' || (option === 'auto' && WebSocketImplementation === undefined) ? 'sse' : 'websocket'
    this.#failedUpgrades = option === 'auto' && this.#current === 'websocket' ? 0 : undefined
    this.#WebSocket = this.#current === 'sse'
      ? undefined
      : resolveImplementation<WebSocketConstructor>(
        'WebSocket',
        WebSocketImplementation,
        undefined,
        'pass `WebSocket` (in Node 20, the default export of the "ws" package), or `transport: \'sse\'`'
      )
  }

  get current (): StreamTransport {
    return this.#current
  }

  /** A socket of the current transport, resuming from `position` (none: the client knows nothing yet). */
  open (position: { epoch: string; seq: number } | undefined, params: Record<string, string> | undefined): WebSocketLike {
    const { baseUrl, prefix, dagId } = this.#address
    if (this.#WebSocket !== undefined && this.#current === 'websocket') {
      return new this.#WebSocket(streamUrl(baseUrl, prefix, dagId, position, params))
    }
    return new FetchEventStream(
      this.#fetch,
      eventStreamUrl(baseUrl, prefix, dagId, position, params),
      commandsUrl(baseUrl, prefix, dagId, params)
    )
  }

  /** A socket carried its hello: the failures in a row start again. */
  greeted (): void {
    if (this.#failedUpgrades !== undefined) this.#failedUpgrades = 0
  }

  /** A socket closed before its hello. Returns true when that made `auto` fall back to SSE for good. */
  failedBeforeHello (): boolean {
    if (this.#failedUpgrades === undefined) return false
    if (++this.#failedUpgrades < AUTO_FALLBACK_AFTER_FAILURES) return false
    this.#failedUpgrades = undefined
    this.#current = 'sse'
    return true
  }
}
