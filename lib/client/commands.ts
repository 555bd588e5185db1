// Commands a dashboard sends (human decisions, pause/resume/cancel) and what becomes of each.
//
// The policy, for commands issued while there is no open stream:
// - They wait, in order, and go out as soon as the stream is back.
// - Each command has one deadline, counted from the call (`commandTimeoutMs`): queued time counts.
//   Past it the promise rejects with `timeout` and the command is dropped, never sent later: a click
//   that did nothing for ten seconds must not take effect behind the user's back a minute later.
// - A human decision in flight when the socket drops is sent again after the reconnect with the same
//   `id`: the server deduplicates by it, so the engine sees the decision once. A pause/resume/cancel
//   in flight is not (the server does not deduplicate those): it rejects with `connection_lost`, and
//   the stream's `execution_status` tells whether it took effect.
// - `close()`, or a final close by the server, rejects everything waiting with `client_closed`.

import type { ClientEvent } from '../../schemas/events.js'
import { DAGStreamError } from './errors.js'

interface Pending {
  readonly event: ClientEvent & { id: string }
  readonly promise: Promise<void>
  readonly resolve: () => void
  readonly reject: (error: DAGStreamError) => void
  readonly timer: ReturnType<typeof setTimeout>
  sent: boolean
}

/** A fresh idempotency key. getRandomValues, unlike randomUUID, also exists on plain-http pages. */
export function commandId (): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
}

export class Commands {
  /** In call order, which is the order they are sent in. */
  readonly #pending = new Map<string, Pending>()
  readonly #timeoutMs: number
  #transmit: ((event: ClientEvent) => void) | undefined

  constructor (timeoutMs: number) {
    this.#timeoutMs = timeoutMs
  }

  /** Sends `event` now or when the stream is back; settles with the server's answer. */
  submit (event: ClientEvent): Promise<void> {
    const id = event.id ?? commandId()
    // The same id again while the first is unanswered (a double click, a retry by the caller) is the
    // same command: one frame, one answer.
    const existing = this.#pending.get(id)
    if (existing !== undefined) return existing.promise
    let settle!: Pick<Pending, 'resolve' | 'reject'>
    const promise = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject }
    })
    const timer = setTimeout(() => {
      this.#settle(id, new DAGStreamError('timeout', `No answer to ${event.type} within ${this.#timeoutMs} ms`))
    }, this.#timeoutMs)
    const pending: Pending = { event: { ...event, id }, promise, ...settle, timer, sent: false }
    this.#pending.set(id, pending)
    this.#send(pending)
    return promise
  }

  /** The stream is open: `transmit` writes a frame. Everything waiting goes out, in order. */
  online (transmit: (event: ClientEvent) => void): void {
    this.#transmit = transmit
    for (const pending of this.#pending.values()) this.#send(pending)
  }

  /** The stream dropped: decisions wait to be re-sent, other commands in flight are given up. */
  offline (): void {
    this.#transmit = undefined
    for (const pending of this.#pending.values()) {
      if (!pending.sent) continue
      if (pending.event.type === 'human_decision') pending.sent = false
      else this.#settle(pending.event.id, new DAGStreamError('connection_lost', `The connection dropped before ${pending.event.type} was answered`))
    }
  }

  /** An `ack`. Answers to commands already given up (timed out) are ignored. */
  acknowledged (id: string): void {
    this.#settle(id)
  }

  /** An `error` frame answering a command. */
  refused (id: string, error: DAGStreamError): void {
    this.#settle(id, error)
  }

  /** Rejects everything waiting. */
  rejectAll (error: DAGStreamError): void {
    this.#transmit = undefined
    for (const id of [...this.#pending.keys()]) this.#settle(id, error)
  }

  #send (pending: Pending): void {
    if (this.#transmit === undefined || pending.sent) return
    pending.sent = true
    this.#transmit(pending.event)
  }

  #settle (id: string, error?: DAGStreamError): void {
    const pending = this.#pending.get(id)
    if (pending === undefined) return
    this.#pending.delete(id)
    clearTimeout(pending.timer)
    if (error === undefined) pending.resolve()
    else pending.reject(error)
  }
}
