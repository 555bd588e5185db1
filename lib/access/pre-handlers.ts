// What a request must pass before a route's handler runs, hence before any WebSocket upgrade: its
// Origin, the connection limits, `authorize`, and a backplane that can serve. What the checks of an
// admitted stream learned (when its credentials expire, who the viewer is) waits here for its handler.

import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ViewerIdentity } from '../../schemas/events.js'
import type { Backplane } from '../backplane/types.js'
import { BackplaneUnavailableError, ForbiddenError, ListForbiddenError, OriginNotAllowedError } from '../errors.js'
import { ConnectionLimits } from './limits.js'
import type { Access, DAGAction } from './authorize.js'
import type { ResolvedOptions } from '../options.js'
import { UpgradeLeftovers } from './upgrade.js'

/** What the checks of an admitted stream learned, for the handler that opens it. */
export interface Admission {
  expiresAt: number | undefined
  identity: ViewerIdentity | undefined
}

type AccessOptions = Pick<ResolvedOptions, 'authorize' | 'identify' | 'allowedOrigins' | 'maxConnections' | 'maxConnectionsPerIp' | 'connectionKey'>

export class StreamAccess {
  readonly upgradeLeftovers: UpgradeLeftovers
  readonly #options: AccessOptions
  readonly #backplane: Pick<Backplane, 'isAvailable'>
  readonly #limits: ConnectionLimits
  /** Taken out by the handler: a request lives as long as its stream. */
  readonly #admissions = new WeakMap<FastifyRequest, Admission>()

  /** `registersWebsocket`: whether this plugin registered @fastify/websocket (see lib/access/upgrade.ts). */
  constructor (options: AccessOptions, backplane: Pick<Backplane, 'isAvailable'>, registersWebsocket: boolean) {
    this.#options = options
    this.#backplane = backplane
    this.#limits = new ConnectionLimits(options)
    this.upgradeLeftovers = new UpgradeLeftovers(registersWebsocket)
  }

  /** The onRequest checks of a WebSocket upgrade (a DAG's stream, the live list). */
  checkUpgrade (request: FastifyRequest, reply: FastifyReply): void {
    this.upgradeLeftovers.remember(request, reply)
    this.checkOrigin(request)
    this.#limits.admit(request, reply)
  }

  /** The onRequest checks of an event stream. */
  checkEventStream (request: FastifyRequest, reply: FastifyReply): void {
    this.checkOrigin(request)
    this.#limits.admitEventStream(request, reply)
  }

  /**
   * Cross-Site WebSocket Hijacking: a browser sends the victim's cookies with an upgrade from any
   * page, so a foreign Origin is refused unless the application listed it.
   */
  checkOrigin (request: FastifyRequest): void {
    const origin = request.headers.origin
    if (origin === undefined || this.#options.allowedOrigins.has(origin)) return
    if (URL.canParse(origin) && new URL(origin).origin === ownOrigin(request)) return
    throw new OriginNotAllowedError(origin)
  }

  /** Refused before the upgrade: a socket opened now could neither replay nor follow the log. */
  requireBackplane (): void {
    if (!this.#backplane.isAvailable()) throw new BackplaneUnavailableError('cannot open a stream now')
  }

  async requireAllowed (request: FastifyRequest, dagId: string, action: DAGAction): Promise<Access> {
    const access = await this.#options.authorize(request, dagId, action)
    if (!access.allowed) throw new ForbiddenError(action, dagId)
    return access
  }

  /** What every stream (WebSocket or event stream) must pass before it opens; remembered for `takeAdmission`. */
  async admitStream (request: FastifyRequest, dagId: string): Promise<void> {
    const { expiresAt } = await this.requireAllowed(request, dagId, 'view')
    this.requireBackplane()
    this.#admissions.set(request, { expiresAt, identity: await this.#options.identify(request) })
  }

  /**
   * What the list (its page, or its live socket) must pass: `authorize(request, undefined, 'list')`,
   * before anything is read, so that a caller who may not list costs no read at all and learns
   * nothing (not even how many DAGs there are). Then, for the live list, a backplane that can serve;
   * its `expiresAt` is remembered for `takeAdmission`.
   */
  async admitList (request: FastifyRequest): Promise<void> {
    const { allowed, expiresAt } = await this.#options.authorize(request, undefined, 'list')
    if (!allowed) throw new ListForbiddenError()
    if (!request.ws) return
    this.requireBackplane()
    this.#admissions.set(request, { expiresAt, identity: undefined })
  }

  /** The admission of `request`, which `admitStream` or `admitList` gave it in the route's preHandler. */
  takeAdmission (request: FastifyRequest): Admission {
    const admission = this.#admissions.get(request) as Admission
    this.#admissions.delete(request)
    return admission
  }
}

/**
 * The server's own origin as this request reached it: scheme, host and port, all three (a page served
 * over http is another origin than the same host over https). Behind a proxy, with Fastify's
 * `trustProxy`, the scheme and host are those the client used (X-Forwarded-Proto, X-Forwarded-Host).
 * Serialized by URL, so that a default port written out (`:443` on https) compares equal.
 */
function ownOrigin (request: FastifyRequest): string | undefined {
  const own = `${request.protocol}://${request.host}`
  return URL.canParse(own) ? new URL(own).origin : undefined
}
