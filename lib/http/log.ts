// What the plugin keeps out of the application's log, and the level of what a client does wrong.
//
// Fastify logs every request's URL, query string included ("incoming request"), and a stream's query
// may carry credentials: browsers cannot set headers on a WebSocket, so a token travels as a query
// parameter (the client's `streamParams`). Rather than reconfigure the application's logger, which
// belongs to the application, the plugin gives its own routes a `req` serializer (Fastify's per-route
// `logSerializers`): the fields of Fastify's default one, with every query value redacted. Keys stay,
// so a log still shows that a request resumed (`since`) or carried a token. Headers (cookies,
// Authorization) are not serialized, as by default.

import type { FastifyBaseLogger, FastifyRequest } from 'fastify'

export const REDACTED = '[redacted]'

/** Fastify's default request serializer, with the query's values redacted. */
export function redactedRequest (request: FastifyRequest) {
  return {
    method: request.method,
    url: withoutQueryValues(request.url),
    version: request.headers['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket.remotePort
  }
}

/** The plugin's routes' `logSerializers`. */
export const redactedLogSerializers = { req: redactedRequest }

/** `/path?token=abc&since=3` → `/path?token=[redacted]&since=[redacted]`; a part without `=` is redacted whole. */
export function withoutQueryValues (url: string): string {
  const mark = url.indexOf('?')
  if (mark === -1) return url
  const parts = url.slice(mark + 1).split('&').map((part) => {
    const equals = part.indexOf('=')
    return equals === -1 ? REDACTED : `${part.slice(0, equals)}=${REDACTED}`
  })
  return `${url.slice(0, mark)}?${parts.join('&')}`
}

// ws emits an error only for what the peer sent (invalid UTF-8, a message too big or in too many
// fragments), once it has begun the closing handshake with the code that says so (1007, 1009, 1008).
// Terminating here, as @fastify/websocket does by default, would reset a connection whose peer is
// still writing, and the close code would be lost. Like a 4xx, the error is the client's: logged at
// info, so that a misbehaving client cannot flood the error log.
export function logProtocolError (log: FastifyBaseLogger, error: Error): void {
  log.info({ err: error }, 'fastify-dag-stream: closed a socket after a protocol error')
}
