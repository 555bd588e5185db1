// Client events between instances. Each backplane instance listens on its own channel; a client event
// for a DAG driven by another instance is published there, run by that instance's executor, and its
// outcome published back on the sender's channel. The sender waits at most `timeoutMs`. A message for
// one of an instance's event streams (a POSTed gate_viewing) goes the same way, to its receiver.

import { randomUUID } from 'node:crypto'
import type { ClientEvent } from '../../../schemas/events.js'
import { engineUnavailable, instanceGone, streamHolderUnavailable } from '../deadline.js'
import type { CommandExecutor, CommandOutcome, CommandSender, StreamMessage, StreamMessageReceiver } from '../types.js'

/** What every request carries: its id, for the reply; the sender's instance; when the sender stops waiting. */
interface Envelope {
  id: string
  from: string
  deadline: number
}

type Request =
  | { kind: 'command'; dagId: string; event: ClientEvent; sender: unknown; connectionId?: string }
  | { kind: 'stream'; message: StreamMessage }

type BusMessage = (Request & Envelope) | { kind: 'reply'; id: string; outcome: CommandOutcome }

export interface BusOptions {
  /** This instance's id. */
  self: string
  timeoutMs: number
  /** Publishes `message` on the channel of instance `to`; resolves with how many listeners got it, if known. */
  publish: (to: string, message: string) => Promise<number | undefined>
  execute: CommandExecutor
  receiveStreamMessage: StreamMessageReceiver
  /** `dagId` when the failure concerns one DAG's client event. */
  onError: (error: unknown, what: string, dagId?: string) => void
}

/** What a request is answered when its instance cannot answer it, saying why. */
type Unavailable = (why: string) => CommandOutcome

interface Waiting {
  resolve: (outcome: CommandOutcome) => void
  timer: NodeJS.Timeout
  unavailable: Unavailable
}

export class CommandBus {
  readonly #options: BusOptions
  readonly #waiting = new Map<string, Waiting>()

  constructor (options: BusOptions) {
    this.#options = options
  }

  /** Sends `event` to instance `to` and resolves with its outcome, or `engine_unavailable`. */
  send (to: string, dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome> {
    // Only the sender's description (and its connection's id, for the logs) travels: the request object
    // stays on this instance.
    const request: Request = { kind: 'command', dagId, event, sender: sender.info, connectionId: sender.connectionId }
    return this.#request(to, request, dagId, engineUnavailable('its instance is gone'))
  }

  /** Sends `message` to the receiver of instance `to`: its outcome, `stream_not_found` (the instance is gone) or `engine_unavailable`. */
  sendToStream (to: string, message: StreamMessage): Promise<CommandOutcome> {
    return this.#request(to, { kind: 'stream', message }, message.dagId, instanceGone(to))
  }

  /** Publishes `request` to instance `to` and resolves with its reply, or with `gone` when no one listens there. */
  #request (to: string, request: Request, dagId: string, gone: CommandOutcome): Promise<CommandOutcome> {
    const id = randomUUID()
    const { self, timeoutMs } = this.#options
    const unavailable = unavailableFor(request)
    const outcome = new Promise<CommandOutcome>((resolve) => {
      const timer = setTimeout(() => this.#settle(id, unavailable(`no answer within ${timeoutMs} ms`)), timeoutMs)
      this.#waiting.set(id, { resolve, timer, unavailable })
    })
    const message: BusMessage = { ...request, id, from: self, deadline: Date.now() + timeoutMs }
    this.#options.publish(to, JSON.stringify(message)).then(
      (listeners) => {
        if (listeners === 0) this.#settle(id, gone)
      },
      (error: unknown) => {
        this.#options.onError(error, 'could not forward a client event', dagId)
        this.#settle(id, unavailable('the backplane is unavailable'))
      }
    )
    return outcome
  }

  /** A message on this instance's channel. */
  receive (raw: string): void {
    let message: BusMessage
    try {
      message = JSON.parse(raw) as BusMessage
    } catch (error) {
      this.#options.onError(error, 'unreadable message on the instance channel')
      return
    }
    if (message.kind === 'reply') this.#settle(message.id, message.outcome)
    else void this.#run(message)
  }

  /** Answers every waiting sender: this instance is closing. */
  close (): void {
    for (const [id, waiting] of [...this.#waiting]) this.#settle(id, waiting.unavailable('this server is shutting down'))
  }

  async #run (request: Request & Envelope): Promise<void> {
    // The sender has answered `engine_unavailable` already: running it now would contradict that.
    if (Date.now() > request.deadline) return
    const dagId = request.kind === 'command' ? request.dagId : request.message.dagId
    let outcome: CommandOutcome
    try {
      outcome = request.kind === 'command' ? await this.#execute(request) : this.#options.receiveStreamMessage(request.message)
    } catch (error) {
      this.#options.onError(error, 'a forwarded client event failed', dagId)
      outcome = unavailableFor(request)('it failed while handling the event')
    }
    const reply: BusMessage = { kind: 'reply', id: request.id, outcome }
    this.#options.publish(request.from, JSON.stringify(reply)).catch((error: unknown) => {
      this.#options.onError(error, 'could not answer a forwarded client event', dagId)
    })
  }

  #execute (command: Extract<Request, { kind: 'command' }>): Promise<CommandOutcome> {
    const sender: CommandSender = { info: command.sender }
    if (command.connectionId !== undefined) sender.connectionId = command.connectionId
    return this.#options.execute(command.dagId, command.event, sender)
  }

  #settle (id: string, outcome: CommandOutcome): void {
    const waiting = this.#waiting.get(id)
    if (waiting === undefined) return
    this.#waiting.delete(id)
    clearTimeout(waiting.timer)
    waiting.resolve(outcome)
  }
}

function unavailableFor (request: Request): Unavailable {
  return request.kind === 'command' ? engineUnavailable : streamHolderUnavailable
}
