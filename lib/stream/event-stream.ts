// Server-Sent Events: the fallback for networks whose proxies break WebSockets.
//
// An event stream carries exactly what a WebSocket stream carries, so it is served by the same
// Connection (hello, replay, live hand-off, gaps, epochs, backpressure, heartbeat, expiry). Rather than
// give Connection a second code path, an event stream is made to look like the part of a `ws` socket
// that Connection uses (`StreamSocket`): `send` writes an SSE message, `ping` an SSE comment, `close`
// a final `close` message. The WebSocket path is untouched: `rawSocketOf` finds no TCP socket of `ws`
// under an EventStreamSocket, so Connection sends its frames through `send`, and a WebSocket's frames
// go exactly the way they went before.
//
// On the wire (text/event-stream):
//   event: stream                first, before hello: the stream's key, which a gate_viewing POSTed
//   data: {"key":"<instance>.<secret>"}     for this stream must carry (lib/stream/stream-keys.ts)
//
//   id: <epoch>:<seq>            DAG events: the browser's EventSource sends it back as Last-Event-ID
//   data: <the JSON frame>
//
//   data: <the JSON frame>       control frames (hello, resync_required): no id, so they do not move
//                                the resume position
//
//   : heartbeat                  a comment every heartbeatMs: keeps proxies from timing the stream out
//
//   event: close                 the last message: the WebSocket close code and reason, so that a
//   data: {"code":4401,"reason":"credentials expired"}     client knows whether to reconnect

import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { RawData, WebSocket } from 'ws'
import type { EventStreamOpened } from '../../schemas/events.js'

/** The part of a `ws` socket that Connection uses; an EventStreamSocket has it too. */
export type StreamSocket = Pick<WebSocket, 'readyState' | 'OPEN' | 'bufferedAmount' | 'extensions' | 'ping' | 'terminate' | 'close' | 'send'> & {
  on(event: 'message', listener: (data: RawData, isBinary: boolean) => void): unknown
  on(event: 'pong' | 'close', listener: () => void): unknown
}

/** How long a closed event stream may take to flush its last messages before its socket is destroyed (as ws does). */
const CLOSE_TIMEOUT_MS = 30_000

const OPEN = 1 as const
const CLOSING = 2 as const
const CLOSED = 3 as const

export const EVENT_STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // nginx buffers responses unless told not to, which would hold events back.
  'x-accel-buffering': 'no'
} as const

/** The SSE `id` of the event at `seq` of `epoch`. */
export function eventId (epoch: string, seq: number): string {
  return `${epoch}:${seq}`
}

/** Where a `Last-Event-ID` (`<epoch>:<seq>`) resumes, or undefined when it is not one of ours. */
export function parseEventId (value: string): { epoch: string; seq: number } | undefined {
  const colon = value.lastIndexOf(':')
  const seq = Number(value.slice(colon + 1))
  if (colon <= 0 || !/^\d+$/.test(value.slice(colon + 1)) || !Number.isSafeInteger(seq)) return undefined
  return { epoch: value.slice(0, colon), seq }
}

// The fan-out hands one frame to every member of a room in a row: the SSE message built for the last
// frame serves every event stream after the first (as wire.ts does for WebSocket headers).
let lastFrame: Buffer | undefined
let lastMessage: Buffer = Buffer.alloc(0)

/** `frame` (UTF-8 JSON on one line) as an SSE message, with an `id` when it is a DAG event. */
export function sseMessage (frame: Buffer): Buffer {
  if (frame === lastFrame) return lastMessage
  const { type, seq, epoch } = JSON.parse(frame.toString('utf8')) as { type: string; seq?: unknown; epoch?: unknown }
  // hello and resync_required carry a position too, but are not events: without an id, they leave
  // the position a browser's EventSource resumes from where the last event put it.
  const isEvent = typeof seq === 'number' && typeof epoch === 'string' && type !== 'hello' && type !== 'resync_required'
  const head = isEvent ? `id: ${eventId(epoch, seq)}\ndata: ` : 'data: '
  lastMessage = Buffer.concat([Buffer.from(head), frame, Buffer.from('\n\n')])
  lastFrame = frame
  return lastMessage
}

const HEARTBEAT = Buffer.from(': heartbeat\n\n')

/**
 * One event stream, shaped like a `ws` socket for Connection. Created once the response's headers
 * are written; `message` is never emitted (client events come by `POST {prefix}/:id/commands`).
 */
export class EventStreamSocket extends EventEmitter implements StreamSocket {
  readonly OPEN = OPEN
  readonly extensions = ''
  readyState: StreamSocket['readyState'] = OPEN
  /** What a gate_viewing POSTed for this stream must carry; its reader learns it in the first message. */
  readonly key: string
  readonly #response: ServerResponse
  #closeTimer: ReturnType<typeof setTimeout> | undefined

  constructor (response: ServerResponse, key: string) {
    super()
    this.#response = response
    this.key = key
    // The response closes when the stream ends, whoever ended it: the client, the network, or close().
    response.once('close', () => {
      this.readyState = CLOSED
      clearTimeout(this.#closeTimer)
      this.emit('close')
    })
    // A write to a reset connection errors; the close above follows and ends the stream.
    response.on('error', () => {})
    // The reader may have gone while `authorize` ran: its close came before anyone listened. Said once
    // the connection is listening and in its room (both happen before the first await of openStream).
    if (response.destroyed) {
      this.readyState = CLOSED
      queueMicrotask(() => this.emit('close'))
      return
    }
    const opened: EventStreamOpened = { key }
    response.write(`event: stream\ndata: ${JSON.stringify(opened)}\n\n`)
  }

  /** Bytes written and not yet taken by the kernel: what `maxBufferedBytes` caps. */
  get bufferedAmount (): number {
    return this.#response.writableLength
  }

  send (frame: Buffer): void {
    this.#response.write(sseMessage(frame))
  }

  // SSE has no pong. A comment that the kernel takes stands for one: a reader that stopped reading
  // stops taking them, misses two heartbeats, and is terminated like a WebSocket peer that vanished.
  ping (): void {
    this.#response.write(HEARTBEAT, (error) => {
      if (error == null) this.emit('pong')
    })
  }

  terminate (): void {
    this.readyState = CLOSED
    this.#response.destroy()
  }

  // Connection closes a socket once.
  close (code?: number, reason?: string): void {
    this.readyState = CLOSING
    this.#response.end(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`)
    // A reader that stopped reading never takes the last bytes: its socket is not kept for ever.
    this.#closeTimer = setTimeout(() => this.#response.destroy(), CLOSE_TIMEOUT_MS)
  }
}
