// Client events between instances. Each backplane instance listens on its own channel; a client event
// for a DAG driven by another instance is published there, run by that instance's executor, and its
// outcome published back on the sender's channel. The sender waits at most `timeoutMs`.

import { randomUUID } from 'node:crypto'
import type { ClientEvent } from '../../../schemas/events.js'
import { engineUnavailable } from '../deadline.js'
import type { CommandExecutor, CommandOutcome, CommandSender } from '../types.js'

type BusMessage =
  | { kind: 'command'; id: string; from: string; dagId: string; event: ClientEvent; sender: unknown; connectionId?: string; deadline: number }
  | { kind: 'reply'; id: string; outcome: CommandOutcome }

export interface BusOptions {
  /** This instance's id. */
  self: string
  timeoutMs: number
  /** Publishes `message` on the channel of instance `to`; resolves with how many listeners got it, if known. */
  publish: (to: string, message: string) => Promise<number | undefined>
  execute: CommandExecutor
  /** `dagId` when the failure concerns one DAG's client event. */
  onError: (error: unknown, what: string, dagId?: string) => void
}

interface Waiting {
  resolve: (outcome: CommandOutcome) => void
  timer: NodeJS.Timeout
}

export class CommandBus {
  readonly #options: BusOptions
  readonly #waiting = new Map<string, Waiting>()

  constructor (options: BusOptions) {
    this.#options = options
  }

  /** Sends `event` to instance `to` and resolves with its outcome, or `engine_unavailable`. */
  send (to: string, dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome> {
    const id = randomUUID()
    const { self, timeoutMs } = this.#options
    const outcome = new Promise<CommandOutcome>((resolve) => {
      const timer = setTimeout(() => this.#settle(id, engineUnavailable(`no answer within ${timeoutMs} ms`)), timeoutMs)
      this.#waiting.set(id, { resolve, timer })
    })
    // Only the sender's description (and its connection's id, for the logs) travels: the request object
    // stays on this instance.
    const message: BusMessage = {
      kind: 'command', id, from: self, dagId, event, sender: sender.info, connectionId: sender.connectionId, deadline: Date.now() + timeoutMs
    }
    this.#options.publish(to, JSON.stringify(message)).then(
      (listeners) => {
        if (listeners === 0) this.#settle(id, engineUnavailable('its instance is gone'))
      },
      (error: unknown) => {
        this.#options.onError(error, 'could not forward a client event', dagId)
        this.#settle(id, engineUnavailable('the backplane is unavailable'))
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
    for (const id of [...this.#waiting.keys()]) this.#settle(id, engineUnavailable('this server is shutting down'))
  }

  async #run (command: Extract<BusMessage, { kind: 'command' }>): Promise<void> {
    // The sender has answered `engine_unavailable` already: running it now would contradict that.
    if (Date.now() > command.deadline) return
    let outcome: CommandOutcome
    try {
      const sender: CommandSender = { info: command.sender }
      if (command.connectionId !== undefined) sender.connectionId = command.connectionId
      outcome = await this.#options.execute(command.dagId, command.event, sender)
    } catch (error) {
      this.#options.onError(error, 'a forwarded client event failed', command.dagId)
      outcome = engineUnavailable('it failed while handling the event')
    }
    const reply: BusMessage = { kind: 'reply', id: command.id, outcome }
    this.#options.publish(command.from, JSON.stringify(reply)).catch((error: unknown) => {
      this.#options.onError(error, 'could not answer a forwarded client event', command.dagId)
    })
  }

  #settle (id: string, outcome: CommandOutcome): void {
    const waiting = this.#waiting.get(id)
    if (waiting === undefined) return
    this.#waiting.delete(id)
    clearTimeout(waiting.timer)
    waiting.resolve(outcome)
  }
}
