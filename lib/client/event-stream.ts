// The event-stream transport: the server's Server-Sent Events route read with fetch, shaped like a
// WebSocket (WebSocketLike) so that the client's state machine serves both transports unchanged.
//
// Why fetch and not the browser's EventSource: EventSource cannot send headers (an Authorization
// header, the `fetch` option's wrapping), does not say which HTTP status refused it, does not exist
// in Node 20, and reconnects on its own schedule, which would fight the client's backoff and resume.
// Reading the stream with fetch needs none of that: the same `fetch` that loads the snapshot, with the
// same credentials, works in browsers and in Node, and the client keeps the one reconnect logic it has.
//
// Client events go by `POST {prefix}/:id/commands`, one at a time in the order sent (as they would on
// a socket); the answer (ack or error frame) comes back as if it had arrived on the stream.
// `gate_viewing` goes there too, with the key the stream gave in its first message (`event: stream`):
// the proof that it speaks for this stream (see lib/stream/stream-keys.ts). As on a socket, it waits for no
// command, and it is never answered with a frame.

import type { EventStreamOpened, ErrorFrame } from '../../schemas/events.js'
import type { FetchLike, WebSocketLike } from './transport.js'

/** The close code of a stream that ended without saying why: the WebSocket code of a lost connection. */
const ABNORMAL_CLOSURE = 1006

interface CloseMessage {
  code: number
  reason: string
}

/** A Server-Sent Events stream as a WebSocketLike. */
export class FetchEventStream implements WebSocketLike {
  onmessage: WebSocketLike['onmessage'] = null
  onclose: WebSocketLike['onclose'] = null
  onerror: WebSocketLike['onerror'] = null
  readonly #fetch: FetchLike
  readonly #commandsUrl: string
  readonly #abort = new AbortController()
  #closed = false
  /** The client events POSTed so far, answered in order. */
  #commands: Promise<void> = Promise.resolve()
  /** The gate_viewing messages POSTed so far, in order (the last one says which gate is open). */
  #gateViewing: Promise<void> = Promise.resolve()
  /** This stream's key, from its first message. */
  #key: string | undefined

  constructor (fetch: FetchLike, streamUrl: string, commandsUrl: string) {
    this.#fetch = fetch
    this.#commandsUrl = commandsUrl
    this.#read(streamUrl).then((closing) => this.#ended(closing), () => this.#ended(undefined))
  }

  send (data: string): void {
    const message = JSON.parse(data) as { type: string }
    if (message.type !== 'gate_viewing') {
      this.#commands = this.#post(this.#commands, data, (answer) => this.onmessage?.({ data: JSON.stringify(answer) }))
      return
    }
    // A socket never answers gate_viewing, and what the server has to say about it comes on the stream
    // (rate_limited, then the close). One answer needs the client: the server no longer knows this
    // stream, which is then as good as lost; the client reconnects and says its gate again.
    this.#gateViewing = this.#post(this.#gateViewing, JSON.stringify({ ...message, stream_key: this.#key }), (answer) => {
      if ((answer as ErrorFrame).code === 'stream_not_found') this.#ended(undefined)
    })
  }

  close (): void {
    this.#closed = true
    this.#abort.abort()
  }

  /** POSTs `body` once everything before it in `queue` is answered; `onAnswer` gets the answer, if it has one. */
  #post (queue: Promise<void>, body: string, onAnswer: (answer: unknown) => void): Promise<void> {
    return queue.then(async () => {
      if (this.#closed) return
      const response = await this.#fetch(this.#commandsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body
      })
      // 204: a gate_viewing that took effect. Every other answer of the route, error or not, is a frame;
      // anything else came from something in between.
      if (response.status === 204) return
      const answer = await response.json()
      if (!this.#closed) onAnswer(answer)
    }).catch(() => {
      // A message that got no answer: the link is not working. Ending the stream puts the commands
      // in flight through the client's "connection lost" path (a decision is sent again).
      this.#ended(undefined)
    })
  }

  /** Reads the stream to its end; resolves with its `close` message, if it sent one. */
  async #read (url: string): Promise<CloseMessage | undefined> {
    const response = await this.#fetch(url, { headers: { accept: 'text/event-stream' }, signal: this.#abort.signal })
    // A refusal (403, 429, 503) is what a refused WebSocket upgrade is: a connection lost, retried later.
    if (!response.ok || response.body == null) return undefined
    const reader = response.body.getReader()
    const decoder = new TextDecoder()
    const parser = new EventStreamParser()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return undefined
      // `stream: true`: a character cut between two chunks waits for its other bytes.
      // Messages after close() still in this chunk are delivered: the client ignores the frames of a
      // socket it gave up, as it must for a WebSocket's.
      for (const message of parser.push(decoder.decode(value, { stream: true }))) {
        if (message.event === 'close') return JSON.parse(message.data) as CloseMessage
        if (message.event === 'stream') this.#key = (JSON.parse(message.data) as EventStreamOpened).key
        else this.onmessage?.({ data: message.data })
      }
    }
  }

  #ended (closing: CloseMessage | undefined): void {
    if (this.#closed) return
    this.close()
    this.onclose?.(closing ?? { code: ABNORMAL_CLOSURE, reason: 'the event stream ended' })
  }
}

interface EventStreamMessage {
  event: string
  data: string
}

/** The text/event-stream format (WHATWG HTML, "Server-sent events"), fed in chunks. `id` and `retry` are not needed. */
export class EventStreamParser {
  #rest = ''
  #event = ''
  #data: string[] = []

  /** The messages completed by `chunk`. */
  push (chunk: string): EventStreamMessage[] {
    const lines = (this.#rest + chunk).split(/\r\n|\r|\n/)
    // The last piece is a line not ended yet (or '' after a line break): it waits for the next chunk.
    // (A chunk ending in the \r of a \r\n leaves an empty line behind: the format's own ambiguity, and
    // harmless here since the server ends lines with \n.)
    this.#rest = lines.pop() as string
    const messages: EventStreamMessage[] = []
    for (const line of lines) {
      if (line === '') {
        if (this.#data.length > 0) messages.push({ event: this.#event === '' ? 'message' : this.#event, data: this.#data.join('\n') })
        this.#event = ''
        this.#data = []
        continue
      }
      if (line.startsWith(':')) continue // a comment: the heartbeat
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? '' : line.slice(line[colon + 1] === ' ' ? colon + 2 : colon + 1)
      if (field === 'data') this.#data.push(value)
      else if (field === 'event') this.#event = value
    }
    return messages
  }
}
