// A stream lasts no longer than its viewer's right to it. Each heartbeat asks `authorize` again, so a
// revoked permission or an expired token ends the stream (4403, 4401) instead of lasting as long as the
// socket; and when `authorize` says when the credentials expire, the stream closes at that moment
// (4401) instead of at the next heartbeat. Each answer moves the moment.

import { CloseCode } from '../shared/close-codes.js'
import type { Connection } from '../stream/connection.js'
import { expiryTimer, isUnauthenticated, type CheckAccess } from '../options.js'

export class CredentialChecks {
  readonly #authorize: CheckAccess
  readonly #expiryTimers = new Map<Connection, ReturnType<typeof setTimeout>>()

  constructor (authorize: CheckAccess) {
    this.#authorize = authorize
  }

  /** Asks `authorize` again whether the viewer of `connection` may still view its DAG. */
  recheck (connection: Connection): void {
    this.#authorize(connection.request, connection.dagId, 'view').then(
      (access) => {
        if (access.allowed) this.expireAt(connection, access.expiresAt)
        else connection.close(CloseCode.FORBIDDEN, 'no longer allowed to view this DAG')
      },
      (error: unknown) => {
        if (isUnauthenticated(error)) {
          closeExpired(connection)
          return
        }
        connection.log.error({ err: error }, 'fastify-dag-stream: authorize threw')
        connection.close(CloseCode.FORBIDDEN, 'authorization failed')
      }
    )
  }

  /** Closes `connection` with 4401 at `expiresAt` (undefined: never), instead of any moment set before. */
  expireAt (connection: Connection, expiresAt: number | undefined): void {
    this.forget(connection)
    // A re-check may answer after the socket went: a timer set then would never be cleared.
    if (connection.socket.readyState !== connection.socket.OPEN) return
    const timer = expiryTimer(expiresAt, () => closeExpired(connection))
    if (timer !== undefined) this.#expiryTimers.set(connection, timer)
  }

  /** The stream ended: its moment is dropped. */
  forget (connection: Connection): void {
    clearTimeout(this.#expiryTimers.get(connection))
    this.#expiryTimers.delete(connection)
  }
}

function closeExpired (connection: Connection): void {
  connection.close(CloseCode.UNAUTHORIZED, 'credentials expired')
}
