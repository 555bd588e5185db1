// What an open WebSocket keeps of the HTTP request that opened it.
//
// @fastify/websocket routes an upgrade through Fastify with a ServerResponse of its own, then hands the
// socket to the route's handler. After that, three things would live as long as the socket while
// nothing needs them: the response, referenced by the TCP socket (`assignSocket`) and by the error
// listener put on the WebSocket (a closure over the reply); and the `head` buffer kept on the request,
// an empty slice that holds the whole first read of the connection, the upgrade request's bytes,
// cookies included. A dashboard's stream lives for hours: they are let go here (see "Memory per idle
// connection" in bench/README.md). The request itself stays: `authorize` is asked again on every heartbeat.
//
// The head is found by its symbol's description, @fastify/websocket's own; test/upgrade.test.ts fails
// loudly if that changes.

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'

const HEAD_KEY_DESCRIPTION = 'ws-head'

export class UpgradeLeftovers {
  readonly #responses = new WeakMap<FastifyRequest, ServerResponse>()
  /** Whether the WebSocket's error listener is this plugin's (it registered @fastify/websocket). */
  readonly #ownsErrorListener: boolean

  constructor (ownsErrorListener: boolean) {
    this.#ownsErrorListener = ownsErrorListener
  }

  /** Call in the route's onRequest hook: the reply is not passed to a WebSocket handler. */
  remember (request: FastifyRequest, reply: FastifyReply): void {
    if (request.ws) this.#responses.set(request, reply.raw)
  }

  /**
   * Call first thing in the WebSocket handler. `logProtocolError` replaces @fastify/websocket's error
   * listener when this plugin registered it (an application's own errorHandler is left as it is).
   */
  release (socket: WebSocket, request: FastifyRequest, logProtocolError: (log: FastifyBaseLogger, error: Error) => void): void {
    this.#responses.get(request)?.detachSocket(request.raw.socket)
    this.#responses.delete(request)
    const headKey = headKeyOf(request.raw)
    if (headKey !== undefined) delete (request.raw as unknown as Record<symbol, unknown>)[headKey]
    if (!this.#ownsErrorListener) return
    socket.removeAllListeners('error')
    socket.on('error', (error) => logProtocolError(request.log, error))
  }
}

/** The key under which @fastify/websocket keeps an upgrade's `head` on the request, if it is there. */
export function headKeyOf (raw: IncomingMessage): symbol | undefined {
  return Object.getOwnPropertySymbols(raw).find((key) => key.description === HEAD_KEY_DESCRIPTION)
}
