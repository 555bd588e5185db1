// Which event stream a POSTed `gate_viewing` speaks for.
//
// On a WebSocket, `gate_viewing` arrives on the socket it is about. An event stream has no way back:
// the message comes by POST, maybe through another instance, and must not be able to set the gate of
// someone else's stream. A viewer id cannot prove anything (every viewer sees every id in presence
// frames), so each event stream is given a key that only its reader learns, in its first message:
// `<instance>.<secret>`. The instance part routes the POST to the instance that holds the stream (the
// backplane's `sendToInstance`); the secret, 144 random bits, is the proof. A key dies with its stream.

import { randomBytes } from 'node:crypto'
import type { GateViewingEvent } from '../../schemas/events.js'
import type { CommandOutcome, StreamMessage } from '../backplane/types.js'
import type { Connection } from './connection.js'

/** Bytes of randomness in a key's secret: as many as a session id of the usual web frameworks, and more. */
const SECRET_BYTES = 18

/** The instance a key names (everything before its last dot). */
export function instanceOf (streamKey: string): string {
  return streamKey.slice(0, streamKey.lastIndexOf('.'))
}

/** The event streams of this instance, by key. */
export class StreamKeys {
  readonly #instanceId: string
  readonly #streams = new Map<string, Connection>()

  constructor (instanceId: string) {
    this.#instanceId = instanceId
  }

  /** A key for a new event stream of this instance. */
  create (): string {
    return `${this.#instanceId}.${randomBytes(SECRET_BYTES).toString('base64url')}`
  }

  /** From now on, POSTs with `streamKey` speak for `connection`, until it is removed. */
  add (streamKey: string, connection: Connection): void {
    this.#streams.set(streamKey, connection)
  }

  remove (streamKey: string): void {
    this.#streams.delete(streamKey)
  }

  /** What becomes of a stream message sent to this instance (the backplane's `receiveStreamMessage`). */
  receive ({ dagId, streamKey, message }: StreamMessage & { message: GateViewingEvent }): CommandOutcome {
    const connection = this.#streams.get(streamKey)
    // A stream of another DAG is not found either: the POST was authorized for this DAG only.
    if (connection === undefined || connection.dagId !== dagId) {
      return { ok: false, code: 'stream_not_found', message: `No open event stream of DAG "${dagId}" has this key: it ended, or the key is not one this server gave` }
    }
    if (!connection.receivePosted(message)) {
      return { ok: false, code: 'rate_limited', message: 'Rate limited: the event stream was closed' }
    }
    return { ok: true }
  }
}
