// Every error the plugin raises, as @fastify/error constructors, so users can `instanceof` them and
// Fastify renders them with the right status code.

import createError from '@fastify/error'

/** A registration option has a bad value. Registration fails with it. */
export const InvalidOptionError = createError('FST_DAG_STREAM_INVALID_OPTION', 'fastify-dag-stream: option %s', 500, TypeError)

/** `broadcast` was given an event that does not match the protocol; the message names the field. */
export const InvalidEventError = createError('FST_DAG_STREAM_INVALID_EVENT', 'Invalid DAG event for "%s": %s', 500, TypeError)

/** A DAG id that cannot appear in a URL or event. */
export const InvalidDAGIdError = createError(
  'FST_DAG_STREAM_INVALID_DAG_ID',
  'Invalid DAG id %s: use 1-100 characters from A-Z a-z 0-9 . _ : ~ - (toIdentifier(name) maps any name onto them)',
  400,
  TypeError
)

export const DAGNotFoundError = createError('FST_DAG_STREAM_DAG_NOT_FOUND', 'DAG "%s" not found', 404)

/** @deprecated use InvalidDAGIdError (the same constructor) */
export const InvalidDagIdError = InvalidDAGIdError
/** @deprecated use DAGNotFoundError (the same constructor) */
export const DagNotFoundError = DAGNotFoundError

/** Throw it from `authorize` when the caller is not authenticated: the upgrade is refused with 401. */
export const UnauthorizedError = createError('FST_DAG_STREAM_UNAUTHORIZED', 'Authentication required', 401)

/**
 * `authorize` answered with a grant whose `expiresAt` has passed: the upgrade and REST routes answer
 * 401, a command gets `error {code:'unauthorized'}`, an open stream is closed with 4401.
 */
export const CredentialsExpiredError = createError('FST_DAG_STREAM_CREDENTIALS_EXPIRED', 'Credentials expired', 401)

/** `authorize` answered with something else than a boolean or `{ allowed, expiresAt? }`: a bug in the application. */
export const InvalidAuthorizeResultError = createError(
  'FST_DAG_STREAM_INVALID_AUTHORIZE_RESULT',
  'fastify-dag-stream: authorize must return a boolean or { allowed: boolean, expiresAt?: Date | number }, got %s',
  500,
  TypeError
)

/** `identify` answered with something that cannot stand for a viewer: a bug in the application. */
export const InvalidIdentityError = createError(
  'FST_DAG_STREAM_INVALID_IDENTITY',
  'fastify-dag-stream: identify must return undefined or JSON like { id: string, name?: string } of at most 2 KiB, got %s',
  500,
  TypeError
)

/** `authorize` returned false. */
export const ForbiddenError = createError('FST_DAG_STREAM_FORBIDDEN', 'Not allowed to %s DAG "%s"', 403)

/** `authorize(request, undefined, 'list')` returned false: the caller may not see the list of DAGs. */
export const ListForbiddenError = createError('FST_DAG_STREAM_LIST_FORBIDDEN', 'Not allowed to list DAGs', 403)

export const OriginNotAllowedError = createError(
  'FST_DAG_STREAM_ORIGIN_NOT_ALLOWED',
  'Origin %s is not allowed to open a DAG stream',
  403
)

/**
 * A stream upgrade past `maxConnections` or `maxConnectionsPerIp`: refused with 429 and `Retry-After`
 * before the 101, so the slot a client would take stays free for the others.
 */
export const TooManyConnectionsError = createError(
  'FST_DAG_STREAM_TOO_MANY_CONNECTIONS',
  'Too many open streams %s: try again later',
  429
)

/**
 * The backplane's store (Redis) cannot be reached: `broadcast` rejects with it, REST routes and new
 * stream upgrades answer 503 with it. Open streams stay open and catch up when the store is back.
 */
export const BackplaneUnavailableError = createError(
  'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE',
  'fastify-dag-stream: the backplane is unavailable (%s)',
  503
)

/**
 * What a client of the plugin's routes is answered for any failure on the server's side (an `authorize`
 * that threw, an `identify` or `authorize` that answered nonsense): the details, which may name a
 * database and its password, go to the log only.
 */
export const InternalError = createError(
  'FST_DAG_STREAM_INTERNAL_ERROR',
  'fastify-dag-stream: the request failed on the server (its log has the details)',
  500
)

/** `broadcast` after `app.close()`. */
export const ClosedError = createError('FST_DAG_STREAM_CLOSED', 'fastify-dag-stream is closed')

/**
 * Throw it from an `onClientEvent` handler to refuse an event with a message the user may see
 * (any other error reaches the client as a generic "The engine refused this event").
 * @example throw new EventRefusedError('Budget exhausted: raise it before approving')
 */
export const EventRefusedError = createError('FST_DAG_STREAM_EVENT_REFUSED', '%s', 409)

/** The engine API's `authorize` threw something other than UnauthorizedError: logged; the engine gets this, without the details. */
export const AuthorizeFailedError = createError('FST_DAG_STREAM_AUTHORIZE_FAILED', 'The credentials could not be checked', 500)
