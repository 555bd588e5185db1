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

import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
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

// -------------------------------------------------------------------------------------------------
// An upgrade that is answered without a WebSocket. @fastify/websocket routes every upgrade request
// through Fastify with a ServerResponse it made and assigned the socket to; no HTTP parser serves that
// socket any more, so nothing closes it when the response ends, except @fastify/websocket's own
// onResponse hook. Fastify's router answers some requests before any hook runs (a bad
// percent-encoding: 400; a path part past `maxParamLength`: 414; a failing async constraint): the
// answer was written and the socket stayed open for good, unlimited (no stream slot counts it), and
// `app.close()` waited for it. Whatever answered it, once that response has ended without a WebSocket
// taking the socket, the socket is of no use: it is ended here. See
// docs/upstream/fastify-websocket-refused-upgrade.md.
// -------------------------------------------------------------------------------------------------

/** Node's own link from a socket to the response assigned to it (`ServerResponse.assignSocket`). */
interface AssignedSocket extends Duplex {
  _httpMessage?: ServerResponse | null
}

/**
 * Ends the socket of every upgrade request on `server` whose response ends (a refusal) instead of
 * becoming a WebSocket. Listen after @fastify/websocket, which assigns the response synchronously.
 * @returns the function that stops listening
 */
export function closeRefusedUpgrades (server: Server): () => void {
  const onUpgrade = (_request: IncomingMessage, socket: AssignedSocket): void => {
    // The response cannot have finished yet: its last write completes after this event's listeners ran.
    // (None assigned: a socket that @fastify/websocket did not route, left to whoever did.)
    socket._httpMessage?.once('finish', () => {
      // Flushes the answer, then lets the socket go once the peer has it.
      socket.end(() => socket.destroy())
    })
  }
  server.on('upgrade', onUpgrade)
  return () => server.off('upgrade', onUpgrade)
}
