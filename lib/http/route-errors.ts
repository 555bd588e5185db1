// How the plugin's routes answer an error, in place of Fastify's default handler, which sends a 5xx
// error's own message (an `authorize` that threw `Error('… postgres://app:S3CRET@…')` had its text in
// the 500 body) and logs every 5xx at error level with a stack (a Redis outage: one such line per
// refused snapshot and upgrade, beside the backplane's own one-time line).
//
// - A 4xx is the client's doing: left to the application's error handler (or Fastify's), as before.
// - BackplaneUnavailableError (503) is expected while Redis is away, and the backplane logged the loss
//   once: answered as it is (its message says nothing secret), logged at debug without a stack.
// - Anything else is the server's failure: logged at error level with everything, answered with
//   InternalError, the same generic body on every route (upgrade, event stream, snapshot, list).

import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { BackplaneUnavailableError, InternalError } from '../errors.js'

/** A route's `errorHandler`: see the file's header. */
export function answerRouteError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = error.statusCode ?? 500
  if (status < 500) throw error
  if (error instanceof BackplaneUnavailableError) {
    request.log.debug({ code: error.code }, 'fastify-dag-stream: refused a request while the backplane is unavailable')
    return reply.code(503).send(bodyOf(error))
  }
  request.log.error({ err: error }, 'fastify-dag-stream: a request failed')
  return reply.code(500).send(bodyOf(new InternalError()))
}

/** Fastify's error body, as the routes' schemas describe it (HttpError). */
function bodyOf (error: FastifyError & { statusCode: number }) {
  return { statusCode: error.statusCode, code: error.code, error: STATUS_CODES[error.statusCode], message: error.message }
}
