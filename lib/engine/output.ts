// Live node output: the writer behind `app.dagStream.streamOutput`.
//
// An LLM engine produces a token every few milliseconds. Broadcasting each one would cost an event in
// the log, a frame to every dashboard and a render per token, so history and bandwidth would grow
// with tokens. The writer instead gathers the text of one node and sends it as one node_output_delta
// per `outputFlushMs` at most: the cost grows with time, not with tokens.
//
// One timer serves every node: when it fires, every node's waiting text leaves in the same turn of the
// event loop, so a dashboard gets the deltas of 20 generating nodes in one write (lib/stream/wire.ts), not
// in 20. Text waits at most `outputFlushMs`; a node still gets at most one delta per interval, since
// the timer starts again only with text written after it fired.

import type { DAGEvent, SequencedEvent } from '../../schemas/events.js'
import { ClosedError } from '../errors.js'

/** Where a node's text goes, one chunk of it at a time. */
export interface OutputWriter {
  /** Adds `text` to the node's output. It is sent within `outputFlushMs`, with whatever else was written meanwhile. */
  write (text: string): void
  /** Sends what is still waiting, at once. The writer takes no more text. Resolves once the last delta is in the log. */
  end (): Promise<void>
}

export interface OutputStreamsOptions {
  broadcast (dagId: string, event: DAGEvent): Promise<SequencedEvent>
  /** The longest a written text waits before it is sent; also the least time between two deltas of one node. */
  flushMs: number
}

/** Text waiting to be sent for one node, shared by every writer of that node. */
interface PendingOutput {
  readonly dagId: string
  readonly nodeId: string
  text: string
}

export class OutputStreams {
  readonly #options: OutputStreamsOptions
  /** By `outputKey(dagId, nodeId)`; an entry lives while it has text waiting. */
  readonly #pending = new Map<string, PendingOutput>()
  /** Runs while text waits: it then sends all of it. */
  #timer: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor (options: OutputStreamsOptions) {
    this.#options = options
  }

  /** A writer for one node. dagId and nodeId are checked by the caller. */
  open (dagId: string, nodeId: string): OutputWriter {
    let ended = false
    return {
      write: (text) => {
        if (ended) throw new Error(`streamOutput("${dagId}", "${nodeId}"): write() after end()`)
        if (typeof text !== 'string') throw new TypeError(`streamOutput("${dagId}", "${nodeId}"): write() expects a string, got ${typeof text}`)
        if (text !== '') this.#add(dagId, nodeId, text)
      },
      end: async () => {
        ended = true
        await this.flush(dagId, nodeId)
      }
    }
  }

  /** Sends the node's waiting text now, if it has any; a no-op otherwise. */
  async flush (dagId: string, nodeId: string): Promise<void> {
    const pending = this.#pending.get(outputKey(dagId, nodeId))
    if (pending !== undefined) await this.#send(pending)
  }

  /**
   * `flush` for a caller that cannot report a failure (a broadcast that must keep the order):
   * broadcast logs it, and no unhandled rejection follows.
   */
  flushQuietly (dagId: string, nodeId: string): void {
    // Called for every broadcast that names a node: the usual case, no text waiting anywhere, costs
    // neither a key nor a promise.
    if (this.#pending.size === 0) return
    const pending = this.#pending.get(outputKey(dagId, nodeId))
    if (pending !== undefined) this.#send(pending).catch(() => {})
  }

  /** Sends everything that is waiting (at shutdown, while the backplane can still take it); later writes throw ClosedError. */
  async close (): Promise<void> {
    this.#closed = true
    await Promise.allSettled([...this.#pending.values()].map((pending) => this.#send(pending)))
  }

  #add (dagId: string, nodeId: string, text: string): void {
    // A timer set now would outlive the app, and its event could not be stored anyway.
    if (this.#closed) throw new ClosedError()
    const key = outputKey(dagId, nodeId)
    const pending = this.#pending.get(key)
    if (pending !== undefined) {
      pending.text += text
      return
    }
    this.#pending.set(key, { dagId, nodeId, text })
    // The first text after a quiet spell waits for the rest of the interval's tokens, then goes.
    this.#timer ??= setTimeout(() => this.#flushAll(), this.#options.flushMs)
  }

  #flushAll (): void {
    this.#timer = undefined
    // Each failure is logged by broadcast; none becomes an unhandled rejection.
    for (const pending of [...this.#pending.values()]) this.#send(pending).catch(() => {})
  }

  #send (pending: PendingOutput): Promise<void> {
    this.#pending.delete(outputKey(pending.dagId, pending.nodeId))
    if (this.#pending.size === 0) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    const event: DAGEvent = { type: 'node_output_delta', node_id: pending.nodeId, delta: pending.text }
    return this.#options.broadcast(pending.dagId, event).then(() => {})
  }
}

function outputKey (dagId: string, nodeId: string): string {
  // U+0000 cannot occur in an Identifier, so the key is unambiguous.
  return `${dagId}\u0000${nodeId}`
}

/** Writes every string `source` yields through `writer`, then ends it (also when `source` throws). */
export async function pipeOutput (source: AsyncIterable<string> | Iterable<string>, writer: OutputWriter): Promise<void> {
  try {
    for await (const text of source) writer.write(text)
  } finally {
    await writer.end()
  }
}
