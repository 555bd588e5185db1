// Client events sent by POST (the event-stream fallback has no way back on its stream): checked like
// those of a WebSocket, answered with the same frame, and an HTTP status that says the same thing.

import { randomUUID } from 'node:crypto'
import type { AckFrame, ErrorCode, ErrorFrame, PostedMessage } from '../../schemas/events.js'
import { errorFrame, idOf } from '../stream/frames.js'
import { validatePostedMessage } from '../validation.js'

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 422 | 429 | 503

const statusOf: Record<ErrorCode, ErrorStatus> = {
  invalid_json: 400,
  unsupported_binary: 400,
  unknown_type: 400,
  invalid_message: 400,
  rate_limited: 429,
  unauthorized: 401,
  forbidden: 403,
  dag_not_found: 404,
  stream_not_found: 404,
  execution_finished: 409,
  gate_not_waiting: 409,
  gate_already_decided: 409,
  // The request was well-formed, but the gate does not take this decision or value.
  decision_not_offered: 422,
  invalid_value: 422,
  producer_gap: 409,
  // No engine handles this kind of event, or the engine refused it: the request was right, its effect was not possible.
  not_handled: 422,
  handler_failed: 422,
  engine_unavailable: 503
}

/** The HTTP status of an answer: 200 for an ack, else the status that matches the error's code. */
export function commandStatus (answer: AckFrame | ErrorFrame): 200 | ErrorStatus {
  return answer.type === 'ack' ? 200 : statusOf[answer.code]
}

/**
 * The message in a POST body, a client event with an id (one is made up when it has none, so that the
 * answer always names it) or a `gate_viewing`, or the error frame a WebSocket would have been sent for
 * it. Fastify's own validation of the route (`validationError`) is only trusted for what is not the body.
 */
export function commandFromBody (
  body: unknown,
  validationError: { validationContext?: string; message: string } | undefined
): { ok: true; event: PostedMessage } | { ok: false; answer: ErrorFrame } {
  if (validationError !== undefined && validationError.validationContext !== 'body') {
    return { ok: false, answer: errorFrame('invalid_message', validationError.message) }
  }
  const result = validatePostedMessage(body)
  if (!result.ok) return { ok: false, answer: errorFrame(result.code, result.message, idOf(body)) }
  // gate_viewing is never acked, so it has no id to name.
  if (result.value.type === 'gate_viewing') return { ok: true, event: result.value }
  return { ok: true, event: { ...result.value, id: result.value.id ?? randomUUID() } }
}

/** A route error handler that answers a body that is not JSON as a WebSocket would, and leaves the rest to Fastify. */
export function isInvalidJsonBody (error: { code?: string }): boolean {
  return error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
}
