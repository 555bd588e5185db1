// Shutdown and the connections that never sent a byte.
//
// app.close() calls server.close() once the preClose hooks have run. Node then ends the keep-alive
// connections that are idle, but waits for every other one, and a connection that has sent nothing
// yet is not idle to Node (a request may be on its way). Its headersTimeout would end it, but the
// check that enforces it stops with close(): the shutdown lasts as long as the peer keeps it open.
//
// Such connections are not rare. Node's fetch (undici 6.24.1 in Node 20.20, nodejs/undici#5845) opens
// one whenever a response still streaming is aborted, which is how the client's event-stream
// transport ends a stream (`client.close()`), and keeps it until the server's keep-alive timeout is
// almost over (72 s in Fastify): an instance that had served a Node client over SSE took 70 s to
// shut down.
//
// Once shutdown has begun, a request on such a connection could only get a 503 (Fastify refuses every
// request from then on), so ending it loses nothing. Counted in bytes read, not in requests: a
// connection in the middle of a request is left to Node, and so is a TLS connection, whose handshake
// is bytes read (Fastify closes HTTP/2 sessions itself).

import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'

/**
 * The connections of a server that have not brought a request yet, so that those that never sent a
 * byte can be ended at shutdown.
 */
export class UnusedConnections {
  readonly #open = new Set<Socket>()

  constructor (server: Server) {
    const open = this.#open
    // One listener for every socket (`this` is the socket), not a closure per socket: a stream's TCP
    // socket lives for hours, and what it keeps is memory per idle connection.
    function forget (this: Socket): void {
      open.delete(this)
    }
    server.on('connection', (socket: Socket) => {
      open.add(socket)
      socket.on('close', forget)
    })
    // A connection that brought a request or an upgrade is used: only the others are kept, so an idle
    // dashboard's stream costs no entry here.
    server.on('request', (request: IncomingMessage) => open.delete(request.socket))
    server.on('upgrade', (request: IncomingMessage) => open.delete(request.socket))
  }

  /** Ends every connection that has not sent a byte. */
  end (): void {
    for (const socket of this.#open) {
      if (socket.bytesRead === 0) socket.destroy()
    }
  }
}
