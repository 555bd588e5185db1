// A stream lasts no longer than its viewer's right to it. Each heartbeat asks `authorize` again, so a
// revoked permission or an expired token ends the stream (4403, 4401) instead of lasting as long as the
// socket; and when `authorize` says when the credentials expire, the stream closes at that moment
// (4401) instead of at the next heartbeat. Each answer moves the moment.

import { CloseCode } from '../shared/close-codes.js'
import { assertNever } from '../shared/reducer.js'
import type { Connection } from '../stream/connection.js'
import { askAuthorize, expiryTimer, type CheckAccess } from './authorize.js'

export class CredentialChecks {
  readonly #authorize: CheckAccess
  readonly #expiryTimers = new Map<Connection, ReturnType<typeof setTimeout>>()

  constructor (authorize: CheckAccess) {
    this.#authorize = authorize
  }

  /** Asks `authorize` again whether the viewer of `connection` may still view its DAG. */
  recheck (connection: Connection): void {
    void askAuthorize(this.#authorize, connection.request, connection.dagId, 'view', connection.log).then((outcome) => {
      switch (outcome.kind) {
        case 'allowed':
          this.expireAt(connection, outcome.expiresAt)
          return
        case 'forbidden':
          connection.close(CloseCode.FORBIDDEN, 'no longer allowed to view this DAG')
          return
        case 'unauthenticated':
          closeExpired(connection)
          return
        case 'failed':
          connection.close(CloseCode.FORBIDDEN, 'authorization failed')
          return
        /* c8 ignore next 2 -- unreachable by type: the compiler proves every outcome is handled */
        default:
          return assertNever(outcome)
      }
    })
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
