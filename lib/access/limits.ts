// How many streams this instance holds, in all and per client, so that one client, or a flood, cannot
// take every socket the process can hold.
//
// A slot is taken when the upgrade request arrives, before `authorize` runs (a flood is refused without
// costing an authorization each), and given back when the request's TCP socket closes: after a refusal,
// after a stream ends, or after ws destroys a peer that never answered the closing handshake (a slow
// reader closed with 4000 keeps its file descriptor until then, so it keeps its slot too).

import type { FastifyReply, FastifyRequest } from 'fastify'
import { TooManyConnectionsError } from '../errors.js'

/** Sent with a 429: a hint for HTTP clients; the stream client retries on its own backoff schedule. */
export const RETRY_AFTER_SECONDS = 5

export interface ConnectionLimitOptions {
  maxConnections: number
  maxConnectionsPerIp: number
  connectionKey: (request: FastifyRequest) => string
}

export class ConnectionLimits {
  readonly #options: ConnectionLimitOptions
  #total = 0
  /** Slots held per client key; a key without slots is deleted, so the map is as large as the clients connected. */
  readonly #perKey = new Map<string, number>()

  constructor (options: ConnectionLimitOptions) {
    this.#options = options
  }

  /**
   * Takes a slot for the upgrade `request` until its socket closes, or throws TooManyConnectionsError
   * (with `Retry-After` set on `reply`).
   */
  admit (request: FastifyRequest, reply: FastifyReply): void {
    const socket = request.raw.socket
    // Only a real upgrade holds a socket for a stream: a plain GET of the route gets a 404 and may
    // leave its keep-alive connection open for more requests; `injectWS` has no socket at all.
    if (!request.ws || socket === undefined) return
    this.#take(request, reply, socket)
  }

  /**
   * Takes a slot for the event stream of `request` until its response ends: the TCP connection may
   * outlive it (keep-alive). Throws like `admit`.
   */
  admitEventStream (request: FastifyRequest, reply: FastifyReply): void {
    this.#take(request, reply, reply.raw)
  }

  #take (request: FastifyRequest, reply: FastifyReply, heldUntilClosed: { on (event: 'close', listener: () => void): unknown }): void {
    const { maxConnections, maxConnectionsPerIp, connectionKey } = this.#options
    const key = connectionKey(request)
    const held = this.#perKey.get(key) ?? 0
    if (this.#total >= maxConnections) this.#refuse(reply, `on this server (maxConnections: ${maxConnections})`)
    if (held >= maxConnectionsPerIp) this.#refuse(reply, `from this client (maxConnectionsPerIp: ${maxConnectionsPerIp})`)
    this.#total += 1
    this.#perKey.set(key, held + 1)
    // `on`, not `once`: 'close' comes once anyway, and once's wrapper would live as long as the socket.
    heldUntilClosed.on('close', () => {
      this.#total -= 1
      const left = (this.#perKey.get(key) as number) - 1
      if (left === 0) this.#perKey.delete(key)
      else this.#perKey.set(key, left)
    })
  }

  #refuse (reply: FastifyReply, why: string): never {
    reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    throw new TooManyConnectionsError(why)
  }
}
