// What `authorize` means to the plugin: the user's function, its answer read in one shape (`Access`),
// when the credentials behind it expire, and what a caller does with each outcome. The upgrade and the
// REST routes throw what it throws (Fastify answers 401/403); a stream's re-check, the live list and
// the commands read the outcome through `askAuthorize`, so that they agree on it.

import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { CredentialsExpiredError, InvalidAuthorizeResultError } from '../errors.js'
import { showValue } from '../shared/option-checks.js'

/**
 * What a caller wants to do: with one DAG, read it (`view`), decide its human gates (`decide`) or
 * pause/resume/cancel it (`control`); or see the list of DAGs at all (`list`, asked with no DAG id
 * before the list is read: the answer settles who may list, `view` still filters what they see).
 */
export type Action = 'view' | 'decide' | 'control' | 'list'

/** The actions on one DAG. */
export type DAGAction = Exclude<Action, 'list'>

/**
 * Decides whether `request` may perform `action` on `dagId`. Return false to refuse (403, or an
 * `error {code:'forbidden'}` frame); throw `UnauthorizedError` to ask for authentication (401).
 * Return `{ allowed: true, expiresAt }` when the credentials run out at a known moment (a token's
 * expiry): a stream is then closed with 4401 at that moment, without waiting for a heartbeat.
 * `dagId` is undefined exactly when `action` is `'list'`: may this caller see the list of DAGs?
 * @example authorize: async (request, dagId, action) => {
 *   const claims = await verify(request.query.token) // throws UnauthorizedError when invalid
 *   if (dagId === undefined) return { allowed: true, expiresAt: claims.exp * 1000 } // 'list'
 *   return { allowed: claims.dags.includes(dagId), expiresAt: claims.exp * 1000 }
 * }
 */
// Declared as a method and taken out of its object: TypeScript checks a method's parameters both ways,
// so an authorize function written before `'list'` existed, declared `(request, dagId: string, action)`,
// still fits (and is called with an undefined `dagId` for `'list'`: see docs/security.md).
export type Authorize = {
  authorize(request: FastifyRequest, dagId: string | undefined, action: Action): AuthorizeResult | Promise<AuthorizeResult>
}['authorize']

/** What `authorize` answers: a verdict, or a verdict with the moment the credentials behind it expire. */
export type AuthorizeResult = boolean | AuthorizeGrant

export interface AuthorizeGrant {
  allowed: boolean
  /**
   * When the credentials expire: a Date, or milliseconds since the epoch (a JWT's `exp * 1000`). An open
   * stream is closed with 4401 at that moment; each heartbeat's re-check may move it. Already past: 401.
   */
  expiresAt?: Date | number
}

/** setTimeout fires at once for a longer delay (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1

/**
 * A timer that fires when credentials end at `expiresAt`, or none: no end is known, or it is further
 * off than a timer can wait (a later `authorize` answer sets it, once the moment is near enough).
 */
export function expiryTimer (expiresAt: number | undefined, fire: () => void): ReturnType<typeof setTimeout> | undefined {
  if (expiresAt === undefined) return undefined
  const delay = expiresAt - Date.now()
  return delay > MAX_TIMER_DELAY_MS ? undefined : setTimeout(fire, delay)
}

/** `authorize`'s answer in one shape: refused, or allowed until `expiresAt` (ms since the epoch) if set. */
export interface Access {
  allowed: boolean
  expiresAt: number | undefined
}

/** `authorize`, normalised: what every caller of it in the plugin uses. */
export type CheckAccess = (request: FastifyRequest, dagId: string | undefined, action: Action) => Promise<Access>

/**
 * Whether `authorize` threw to ask for authentication (UnauthorizedError, or any error with status
 * 401), or answered with credentials that have expired.
 */
export function isUnauthenticated (error: unknown): boolean {
  return (error as { statusCode?: unknown } | null)?.statusCode === 401
}

/** Before this (March 1973, in ms), an `expiresAt` is surely a JWT's `exp` in seconds. */
const EARLIEST_MILLISECONDS = 1e11

/**
 * The one place that reads what `authorize` answered, so that the upgrade, the REST routes, the
 * commands and the heartbeat agree on it: a grant that has expired throws CredentialsExpiredError (a
 * 401, like UnauthorizedError), and an answer of another shape throws InvalidAuthorizeResultError.
 */
export function checkAccessWith (authorize: Authorize): CheckAccess {
  return async (request, dagId, action) => toAccess(await authorize(request, dagId, action))
}

function toAccess (answer: unknown): Access {
  if (typeof answer === 'boolean') return { allowed: answer, expiresAt: undefined }
  const grant = answer as Partial<AuthorizeGrant> | null
  if (typeof grant?.allowed !== 'boolean') throw new InvalidAuthorizeResultError(showValue(answer))
  if (!grant.allowed || grant.expiresAt === undefined) return { allowed: grant.allowed, expiresAt: undefined }
  const expiresAt = grant.expiresAt instanceof Date ? grant.expiresAt.getTime() : grant.expiresAt
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
    throw new InvalidAuthorizeResultError(`{ allowed: true, expiresAt: ${String(grant.expiresAt)} }: expiresAt must be a valid Date or a number of ms`)
  }
  if (expiresAt < EARLIEST_MILLISECONDS) {
    throw new InvalidAuthorizeResultError(`{ allowed: true, expiresAt: ${expiresAt} }: that is seconds, not milliseconds (a JWT's exp * 1000)`)
  }
  if (expiresAt <= Date.now()) throw new CredentialsExpiredError()
  return { allowed: true, expiresAt }
}

/**
 * What asking `authorize` came to, for a caller that cannot let it throw (an open socket, a command):
 * `allowed` (until `expiresAt`, if set); `forbidden` (it said no); `unauthenticated` (it asked for
 * authentication, or the credentials expired); `failed` (it threw otherwise: logged here).
 */
export type AccessOutcome =
  | { kind: 'allowed'; expiresAt: number | undefined }
  | { kind: 'forbidden' }
  | { kind: 'unauthenticated' }
  | { kind: 'failed' }

/** Asks `authorize` and says which of the four outcomes it came to; a failure is logged on `log`. */
export async function askAuthorize (
  authorize: CheckAccess, request: FastifyRequest, dagId: string | undefined, action: Action, log: FastifyBaseLogger
): Promise<AccessOutcome> {
  try {
    const access = await authorize(request, dagId, action)
    return access.allowed ? { kind: 'allowed', expiresAt: access.expiresAt } : { kind: 'forbidden' }
  } catch (error) {
    if (isUnauthenticated(error)) return { kind: 'unauthenticated' }
    log.error({ err: error, dagId, action }, 'fastify-dag-stream: authorize threw')
    return { kind: 'failed' }
  }
}
