// The plugin's options: their defaults, and the checks that make a bad value fail `register` with a
// message that says what to do, instead of misbehaving later.

import type { FastifyRequest } from 'fastify'
import { memoryBackplane } from './backplane/memory/backplane.js'
import type { BackplaneProvider } from './backplane/types.js'
import type { AsyncApiOptions } from './http/asyncapi.js'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ViewerIdentity } from '../schemas/events.js'
import { InvalidIdentityError, InvalidOptionError } from './errors.js'
import { checkAccessWith, type Access, type Authorize, type AuthorizeResult, type CheckAccess } from './access/authorize.js'
import { DEFAULT_PREFIX } from './shared/prefix.js'
import { OptionChecks, showValue } from './shared/option-checks.js'

export { DEFAULT_PREFIX } from './shared/prefix.js'
/** Requests of the engine API per DAG and instance: a batch of 1 a millisecond; batches go further. */
export const DEFAULT_ENGINE_API_RATE_LIMIT = { max: 1000, timeWindow: 1000 } as const
/** 1 MiB: Fastify's own default, a batch of a thousand small events. */
export const DEFAULT_ENGINE_API_BODY_LIMIT = 1024 * 1024
/** 64 KiB: a human decision with generous feedback fits; a flood does not. */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024
/**
 * A client message in more fragments than this closes the socket with 1008. Browsers send a message in
 * one frame; ws's own default (16,384) lets one socket pin about 1.7 MB of heap with an unfinished
 * message of 1-byte fragments, where 1,024 bounds it to about 120 KB (test/adversarial/frames.test.ts).
 */
export const MAX_FRAGMENTS = 1024
/** Below the 60 s idle timeout of common proxies and load balancers, so they never cut a quiet stream. */
export const DEFAULT_HEARTBEAT_MS = 25_000
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024
export const DEFAULT_HISTORY_SIZE = 1000
export const DEFAULT_RETAIN_FINISHED_MS = 5 * 60_000
/** A day: far longer than any run's quiet spell, short enough that dead engines' runs go away. */
export const DEFAULT_MAX_IDLE_MS = 24 * 60 * 60_000
/** Long enough for an engine's handler to do real work, short enough for a person waiting on a click. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000
/** Serialized snapshots kept for reuse, all DAGs together (the latest of each DAG, least recently read dropped first). */
export const DEFAULT_SNAPSHOT_CACHE_BYTES = 64 * 1024 * 1024
/** A node's live output is sent at most this often: 20 events/s per node, about as often as a screen shows text change. */
export const DEFAULT_OUTPUT_FLUSH_MS = 50
/** How long a run driven through a run handle may go without its process renewing its lease before it shows as stalled. */
export const DEFAULT_ENGINE_LEASE_MS = 15_000
/** Events a run handle holds while the backplane is unreachable before it coalesces them into the run's picture. */
export const DEFAULT_ENGINE_OUTBOX_SIZE = 10_000
/**
 * Client events of one socket run one after the other (a pause, a decision and a resume reach the
 * engine in the order sent), and each may wait for `authorize` and the engine: this many may wait
 * behind the one running. A dashboard has a few in flight at most (a user's clicks, or what its
 * client queued while offline); a socket that sends faster than they are answered gets `rate_limited`
 * for the excess, so that it cannot grow the server's memory: at most this many times `maxPayload`.
 */
export const DEFAULT_MAX_QUEUED_EVENTS = 16
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { max: 100, timeWindow: 1000, maxInvalid: 10 }
/** Where the `metrics` option serves the registry, unless told otherwise. */
export const DEFAULT_METRICS_ROUTE = '/metrics'
/** Prepended to every metric name, so the plugin's metrics sit together and apart from the app's. */
export const DEFAULT_METRICS_PREFIX = 'dag_stream_'
/**
 * No cap on the streams of one instance: what it can hold depends on its memory and file descriptors,
 * which only a load test on the real machine tells. Set it from one.
 */
export const DEFAULT_MAX_CONNECTIONS = Number.POSITIVE_INFINITY
/**
 * Far above what one browser can open (Chrome allows 255 WebSockets per profile, Firefox 200), and
 * enough for an office behind one NAT address; but one script on one host cannot take every socket the
 * process can hold. Behind a proxy, set Fastify's `trustProxy` (or `connectionKey`): otherwise every
 * client shares the proxy's address, and this becomes a cap on the whole instance.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 1000

/** See the `presenceFlushMs` option: a few frames a second at most, still quick to the eye. */
export const DEFAULT_PRESENCE_FLUSH_MS = 250
/** An identity travels in every presence frame of its DAG: a name and a few fields, not a profile. */
const MAX_IDENTITY_JSON = 2048

/**
 * Says who is behind a stream, for presence (see the `identify` option).
 * @example (request) => ({ id: request.user.id, name: request.user.name })
 */
export type Identify = (request: FastifyRequest) => ViewerIdentity | undefined | Promise<ViewerIdentity | undefined>

export interface RateLimitOptions {
  /** Client messages allowed per socket in each window. */
  max: number
  /** The window, in milliseconds. */
  timeWindow: number
  /** Invalid messages tolerated per socket in each window before it is closed. @default 10 */
  maxInvalid?: number
}

export interface DAGStreamOptions {
  /** Where the routes live: `${prefix}`, `${prefix}/:id`, `${prefix}/:id/stream`, `${prefix}/:id/events`, `${prefix}/:id/commands`. @default '/api/dags' */
  prefix?: string
  /**
   * Called at the WebSocket upgrade, on every REST route and for every client command.
   * @default allow everything — set it in production.
   * @example authorize: async (request, dagId, action) => (await getUser(request)).canAccess(dagId, action)
   */
  authorize?: Authorize
  /**
   * Origins (scheme://host[:port]) that may open a stream besides the server's own. Requests without an
   * Origin header (non-browser clients) are allowed. @default []
   */
  allowedOrigins?: string[]
  /** Largest client frame in bytes; larger ones close the socket with 1009. @default 65536 */
  maxPayload?: number
  /** Ping interval; a peer that has not answered the previous ping is terminated. @default 25000 */
  heartbeatMs?: number
  /** Per-socket cap on bytes waiting to be sent; past it the socket is closed with 4000. @default 1048576 */
  maxBufferedBytes?: number
  /** Events kept per DAG so a reconnecting client can resume. @default 1000 */
  historySize?: number
  /**
   * Bytes of serialized (and compressed) snapshots kept so that requests for a DAG at the same seq share
   * one serialization; the least recently read DAGs' go first, the latest read always stays. @default 67108864
   */
  snapshotCacheBytes?: number
  /** How long a finished DAG stays readable before it is evicted. @default 300000 */
  retainFinishedMs?: number
  /** Per-socket inbound rate limit, or false to disable. @default { max: 100, timeWindow: 1000, maxInvalid: 10 } */
  rateLimit?: RateLimitOptions | false
  /**
   * Client events of one socket that may wait while an earlier one runs (they run one at a time, in
   * order); one more is answered `error {code:'rate_limited'}` and not run, and the socket stays open.
   * What a closed socket left waiting is dropped. @default 16
   */
  maxQueuedEvents?: number
  /**
   * A DAG with no event for this long is evicted, whatever its status (its engine died mid-run).
   * @default 86400000 (24 h)
   */
  maxIdleMs?: number
  /**
   * How long a client event may wait for the engine (on this instance or the one that drives the DAG)
   * before the sender gets `error {code:'engine_unavailable'}`; also the lease of a human gate's claim.
   * @default 10000
   */
  commandTimeoutMs?: number
  /**
   * What `onClientEvent` handlers learn about the sender, as `context.sender`: return JSON (the user
   * behind a decision, say), since it may travel to the instance that drives the DAG.
   * @default () => undefined
   * @example describeSender: (request) => ({ user: request.user.id })
   */
  describeSender?: (request: FastifyRequest) => unknown
  /**
   * Presence: every socket of a DAG is told who else watches it (a `presence` frame after hello, then
   * `presence_delta`s) and who has which gate open (`gate_viewing`). Off, a `gate_viewing` is ignored.
   * @default false
   */
  presence?: boolean
  /**
   * Who a stream's viewer is, for the others to see (presence): JSON with an `id` and usually a
   * `name`, or undefined for an anonymous viewer (counted, not named). Called once per stream, before
   * the upgrade; a value of another shape fails the upgrade with a 500 (InvalidIdentityError).
   * @default every viewer is anonymous
   * @example identify: (request) => ({ id: request.user.id, name: request.user.displayName })
   */
  identify?: Identify
  /**
   * How long this instance gathers presence changes of one DAG (joins, leaves, gates opened) before it
   * writes and sends them as one delta: what a page that flips its focus many times a second costs.
   * @default 250
   */
  presenceFlushMs?: number
  /**
   * Where DAG logs live: `'memory'` (one process) or a provider such as `redisBackplane({ url })` from
   * `fastify-dag-stream/redis` (N instances). `historySize`, `retainFinishedMs`, `maxIdleMs` and
   * `commandTimeoutMs` apply to either. The plugin creates it and closes it with the app.
   * @default 'memory'
   */
  backplane?: 'memory' | BackplaneProvider
  /**
   * Serve the AsyncAPI 3 document of the stream protocol at `path` (a GET route), or false.
   * @default false
   * @example asyncapi: { path: '/asyncapi.json', title: 'Runs API', version: '2.1.0' }
   */
  asyncapi?: AsyncApiRouteOptions | false
  /**
   * Prometheus metrics through `prom-client` (an optional peer dependency, loaded only when this is
   * set), or false. See docs/redis.md (Metrics) for every metric.
   * @default false
   * @example metrics: { route: '/metrics' }
   */
  metrics?: MetricsOptions | false
  /**
   * Open streams this instance accepts; past it an upgrade is refused with 429 and `Retry-After`.
   * @default Infinity
   */
  maxConnections?: number
  /**
   * Open streams this instance accepts from one client, as `connectionKey` tells clients apart; past it
   * an upgrade is refused with 429 and `Retry-After`.
   * @default 1000
   */
  maxConnectionsPerIp?: number
  /**
   * What `maxConnectionsPerIp` counts by. The default is the client's address as Fastify sees it: behind
   * a proxy, set Fastify's `trustProxy` so that it is the client's and not the proxy's.
   * @default (request) => request.ip
   * @example connectionKey: (request) => request.headers['x-tenant-id'] as string
   */
  connectionKey?: (request: FastifyRequest) => string
  /**
   * The least time between two `node_output_delta` events of one node that `streamOutput` sends: what is
   * written meanwhile goes in one event, so the log and the sockets grow with time, not with tokens.
   * @default 50
   */
  outputFlushMs?: number
  /**
   * The longest a run driven through `app.dagStream.run(dagId)` shows as running after its process died:
   * the plugin renews the process's lease on the run, and when it lapses every dashboard sees
   * `execution_status { status: 'stalled' }` and commands answer `engine_unavailable` at once.
   * @default 15000
   */
  engineLeaseMs?: number
  /**
   * How many events a run handle holds, in order, while the backplane is unreachable. Past it the
   * oldest are coalesced into the run's picture (its current state), which is sent when the backplane
   * is back: nothing is dropped silently, and the handle never throws for an outage.
   * @default 10000
   */
  engineOutboxSize?: number
  /**
   * The HTTP engine API, for engines in any language (docs/any-engine.md): `POST {prefix}/:id/events`
   * (a producer's numbered batch), `GET {prefix}/:id/engine` (the command feed, Server-Sent Events) and
   * `POST {prefix}/:id/engine` (the engine's answer to a command). Off unless set. `authorize` is the
   * engine's credential, checked apart from the dashboards' `authorize`.
   * @default false
   * @example engineApi: { authorize: (request) => request.headers.authorization === `Bearer ${process.env.ENGINE_TOKEN}` }
   */
  engineApi?: EngineApiOptions | false
}

export interface EngineApiOptions {
  /** Whether the request speaks for the engine of `dagId` (true, false, or a grant as `authorize` returns). */
  authorize: (request: FastifyRequest, dagId: string) => AuthorizeResult | Promise<AuthorizeResult>
  /** Requests of the engine API per DAG on one instance in each window: past it, 429 `rate_limited`. @default { max: 1000, timeWindow: 1000 } */
  rateLimit?: { max: number; timeWindow: number }
  /** The largest POST body, in bytes. @default 1048576 (1 MiB) */
  bodyLimit?: number
}

export interface ResolvedEngineApi {
  authorize: (request: FastifyRequest, dagId: string) => Promise<Access>
  rateLimit: { max: number; timeWindow: number }
  bodyLimit: number
}

export interface MetricsOptions {
  /** The prom-client `Registry` to register the metrics in. @default prom-client's global `register` */
  registry?: MetricsRegistry
  /** A GET route that serves `registry` in the Prometheus text format, or false to serve it yourself. @default '/metrics' */
  route?: string | false
  /** Prepended to every metric name. @default 'dag_stream_' */
  prefix?: string
}

/**
 * The part of a prom-client `Registry` the plugin uses, spelled out so that this package's types do not
 * depend on prom-client (apps without metrics need not install it). A prom-client `Registry` fits.
 */
export interface MetricsRegistry {
  readonly contentType: string
  metrics(): Promise<string>
  getSingleMetric(name: string): unknown
  removeSingleMetric(name: string): void
}

export interface ResolvedMetricsOptions {
  /** Undefined: prom-client's global registry, known only once prom-client is loaded. */
  registry: MetricsRegistry | undefined
  route: string | false
  prefix: string
}

export interface AsyncApiRouteOptions {
  path: string
  title?: string
  version?: string
  /** The document's `servers`. @default the addresses the app listens on (see buildAsyncApiDocument) */
  servers?: AsyncApiOptions['servers']
}

export interface ResolvedOptions {
  prefix: string
  authorize: CheckAccess
  allowedOrigins: Set<string>
  maxPayload: number
  heartbeatMs: number
  maxBufferedBytes: number
  historySize: number
  snapshotCacheBytes: number
  retainFinishedMs: number
  maxIdleMs: number
  commandTimeoutMs: number
  describeSender: (request: FastifyRequest) => unknown
  presence: boolean
  /** `identify`, normalised: an answer of another shape throws InvalidIdentityError. */
  identify: (request: FastifyRequest) => Promise<ViewerIdentity | undefined>
  presenceFlushMs: number
  rateLimit: Required<RateLimitOptions> | false
  maxQueuedEvents: number
  backplane: BackplaneProvider
  asyncapi: AsyncApiRouteOptions | false
  metrics: ResolvedMetricsOptions | false
  maxConnections: number
  maxConnectionsPerIp: number
  connectionKey: (request: FastifyRequest) => string
  outputFlushMs: number
  engineLeaseMs: number
  engineApi: ResolvedEngineApi | false
  engineOutboxSize: number
}

const allowAll: Authorize = () => true
const check: OptionChecks = new OptionChecks('', (message) => new InvalidOptionError(message))
const isViewerIdentity = TypeCompiler.Compile(ViewerIdentity)

export function resolveOptions (options: DAGStreamOptions): ResolvedOptions {
  const prefix = options.prefix ?? DEFAULT_PREFIX
  if (typeof prefix !== 'string' || !/^(\/[\w.~-]+)*$/.test(prefix)) {
    check.reject('prefix', 'be a path like "/api/dags" (no trailing slash)', prefix)
  }
  const authorize = check.callback('authorize', options.authorize, '(request, dagId, action) => boolean', allowAll)
  return {
    prefix,
    authorize: checkAccessWith(authorize),
    allowedOrigins: resolveOrigins(options.allowedOrigins ?? []),
    maxPayload: check.integer('maxPayload', options.maxPayload, DEFAULT_MAX_PAYLOAD),
    heartbeatMs: check.integer('heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS),
    maxBufferedBytes: check.integer('maxBufferedBytes', options.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES),
    historySize: check.integer('historySize', options.historySize, DEFAULT_HISTORY_SIZE),
    snapshotCacheBytes: check.integer('snapshotCacheBytes', options.snapshotCacheBytes, DEFAULT_SNAPSHOT_CACHE_BYTES),
    retainFinishedMs: check.integer('retainFinishedMs', options.retainFinishedMs, DEFAULT_RETAIN_FINISHED_MS),
    maxIdleMs: check.integer('maxIdleMs', options.maxIdleMs, DEFAULT_MAX_IDLE_MS),
    commandTimeoutMs: check.integer('commandTimeoutMs', options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS),
    describeSender: check.callback('describeSender', options.describeSender, '(request) => JSON', () => undefined),
    presence: resolvePresence(options.presence),
    identify: resolveIdentify(options.identify),
    presenceFlushMs: check.integer('presenceFlushMs', options.presenceFlushMs, DEFAULT_PRESENCE_FLUSH_MS),
    rateLimit: resolveRateLimit(options.rateLimit),
    maxQueuedEvents: check.integer('maxQueuedEvents', options.maxQueuedEvents, DEFAULT_MAX_QUEUED_EVENTS),
    backplane: resolveBackplane(options.backplane),
    asyncapi: resolveAsyncApi(options.asyncapi),
    metrics: resolveMetrics(options.metrics),
    maxConnections: connectionLimit('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS),
    maxConnectionsPerIp: connectionLimit('maxConnectionsPerIp', options.maxConnectionsPerIp, DEFAULT_MAX_CONNECTIONS_PER_IP),
    connectionKey: check.callback('connectionKey', options.connectionKey, '(request) => string', (request: FastifyRequest) => request.ip),
    outputFlushMs: check.integer('outputFlushMs', options.outputFlushMs, DEFAULT_OUTPUT_FLUSH_MS),
    engineLeaseMs: check.integer('engineLeaseMs', options.engineLeaseMs, DEFAULT_ENGINE_LEASE_MS),
    engineOutboxSize: check.integer('engineOutboxSize', options.engineOutboxSize, DEFAULT_ENGINE_OUTBOX_SIZE),
    engineApi: resolveEngineApi(options.engineApi)
  }
}

function resolveEngineApi (engineApi: unknown): ResolvedEngineApi | false {
  if (engineApi === undefined || engineApi === false) return false
  const { authorize, rateLimit, bodyLimit } = (engineApi ?? {}) as Partial<EngineApiOptions>
  if (typeof authorize !== 'function') {
    check.reject('engineApi', 'be false or { authorize: (request, dagId) => boolean, rateLimit?, bodyLimit? }', engineApi)
  }
  if (rateLimit !== undefined && (typeof rateLimit !== 'object' || rateLimit === null)) {
    check.reject('engineApi.rateLimit', 'be { max, timeWindow }', rateLimit)
  }
  // The engine's credential is answered like `authorize`: a verdict, a grant, or UnauthorizedError.
  const engineAuthorize = authorize as EngineApiOptions['authorize']
  // (Only ever asked for a DAG: the engine API has no route without one.)
  const access = checkAccessWith((request, dagId) => engineAuthorize(request, dagId as string))
  return {
    authorize: (request, dagId) => access(request, dagId, 'control'),
    rateLimit: {
      max: check.integer('engineApi.rateLimit.max', rateLimit?.max, DEFAULT_ENGINE_API_RATE_LIMIT.max),
      timeWindow: check.integer('engineApi.rateLimit.timeWindow', rateLimit?.timeWindow, DEFAULT_ENGINE_API_RATE_LIMIT.timeWindow)
    },
    bodyLimit: check.integer('engineApi.bodyLimit', bodyLimit, DEFAULT_ENGINE_API_BODY_LIMIT)
  }
}

function connectionLimit (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (value === Number.POSITIVE_INFINITY) return value
  return check.integer(name, value, undefined, 1, 'be a positive integer or Infinity (no limit)')
}

function resolveOrigins (origins: unknown): Set<string> {
  if (!Array.isArray(origins)) {
    check.reject('allowedOrigins', 'be an array of origins like "https://app.example.com"', origins)
  }
  return new Set(
    origins.map((origin) => {
      const parsed = typeof origin === 'string' && URL.canParse(origin) ? new URL(origin) : undefined
      if (parsed?.origin !== origin) {
        throw new InvalidOptionError(
          `"allowedOrigins" entries must be exact origins (scheme://host[:port], no path or trailing slash), got ${showValue(origin)}`
        )
      }
      return origin
    })
  )
}

function resolveRateLimit (rateLimit: unknown): Required<RateLimitOptions> | false {
  if (rateLimit === false) return false
  if (rateLimit === undefined) return { ...DEFAULT_RATE_LIMIT } as Required<RateLimitOptions>
  if (typeof rateLimit !== 'object' || rateLimit === null) {
    check.reject('rateLimit', 'be { max, timeWindow, maxInvalid? } or false', rateLimit)
  }
  const { max, timeWindow, maxInvalid } = rateLimit as Partial<RateLimitOptions>
  return {
    max: check.integer('rateLimit.max', max, undefined),
    timeWindow: check.integer('rateLimit.timeWindow', timeWindow, undefined),
    maxInvalid: check.integer('rateLimit.maxInvalid', maxInvalid, DEFAULT_RATE_LIMIT.maxInvalid as number)
  }
}

function resolveBackplane (backplane: unknown): BackplaneProvider {
  if (backplane === undefined || backplane === 'memory') return memoryBackplane
  const provider = backplane as Partial<BackplaneProvider> | null
  if (typeof provider?.create !== 'function' || typeof provider.kind !== 'string') {
    check.reject('backplane', 'be \'memory\' or a provider such as redisBackplane({ url }) from \'fastify-dag-stream/redis\'', backplane)
  }
  return provider as BackplaneProvider
}

function resolvePresence (presence: unknown): boolean {
  if (presence === undefined || typeof presence === 'boolean') return presence === true
  return check.reject('presence', 'be true (tell each viewer who else watches) or false', presence)
}

function resolveIdentify (identify: unknown): (request: FastifyRequest) => Promise<ViewerIdentity | undefined> {
  const checked = check.callback<Identify | undefined>('identify', identify, '(request) => ({ id, name? }) or undefined', undefined)
  if (checked === undefined) return async () => undefined
  return async (request) => checkIdentity(await checked(request))
}

/** What `identify` answered, checked: it travels to every viewer of the DAG, on every instance. */
function checkIdentity (identity: unknown): ViewerIdentity | undefined {
  if (identity === undefined || identity === null) return undefined
  let json: string | undefined
  try {
    json = JSON.stringify(identity)
  } catch {
    json = undefined
  }
  if (json === undefined || !isViewerIdentity.Check(identity)) throw new InvalidIdentityError(showValue(identity))
  if (json.length > MAX_IDENTITY_JSON) throw new InvalidIdentityError(`${json.length} characters of JSON`)
  // Its JSON form, which is what other instances and the clients get (a Date becomes a string …).
  return JSON.parse(json) as ViewerIdentity
}

function resolveAsyncApi (asyncapi: unknown): AsyncApiRouteOptions | false {
  if (asyncapi === undefined || asyncapi === false) return false
  const path = (asyncapi as Partial<AsyncApiRouteOptions> | null)?.path
  if (typeof path !== 'string' || !path.startsWith('/')) {
    check.reject('asyncapi', 'be false or { path: \'/asyncapi.json\', title?, version? }', asyncapi)
  }
  return asyncapi as AsyncApiRouteOptions
}

function resolveMetrics (metrics: unknown): ResolvedMetricsOptions | false {
  if (metrics === undefined || metrics === false) return false
  if (typeof metrics !== 'object' || metrics === null) {
    check.reject('metrics', 'be false or { registry?, route?, prefix? }', metrics)
  }
  const { registry, route = DEFAULT_METRICS_ROUTE, prefix = DEFAULT_METRICS_PREFIX } = metrics as MetricsOptions
  if (registry !== undefined && !isRegistry(registry)) {
    check.reject('metrics.registry', 'be a prom-client Registry (new Registry() from \'prom-client\')', registry)
  }
  if (route !== false && (typeof route !== 'string' || !route.startsWith('/'))) {
    check.reject('metrics.route', 'be a path like "/metrics", or false to serve the registry yourself', route)
  }
  // Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*, and the prefix starts every name.
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][\w:]*)?$/.test(prefix)) {
    check.reject('metrics.prefix', 'start a Prometheus metric name (letters, digits, _ and :, not a digit first)', prefix)
  }
  return { registry, route, prefix }
}

function isRegistry (value: unknown): value is MetricsRegistry {
  const registry = value as Partial<Record<keyof MetricsRegistry | 'registerMetric', unknown>> | null
  return typeof registry?.metrics === 'function' && typeof registry.registerMetric === 'function' &&
    typeof registry.getSingleMetric === 'function' && typeof registry.removeSingleMetric === 'function'
}
