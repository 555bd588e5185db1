// What an open WebSocket keeps of the HTTP request that opened it.
//
// @fastify/websocket routes an upgrade through Fastify with a ServerResponse of its own, then hands the
// socket to the route's handler. After that the response is still referenced twice, for as long as the
// socket lives: by the TCP socket (`assignSocket`), and by the error listener put on the WebSocket (a
// closure over the reply). A dashboard's stream lives for hours while that response and its reply are
// dead weight, over a kilobyte per idle socket (see "Memory per idle connection" in the README): they
// are let go here. The request itself stays: `authorize` is asked again on every heartbeat.

import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'

export class UpgradeResponses {
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
    if (!this.#ownsErrorListener) return
    socket.removeAllListeners('error')
    socket.on('error', (error) => logProtocolError(request.log, error))
  }
}
