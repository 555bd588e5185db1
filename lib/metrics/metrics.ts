// What the plugin reports about itself, at a few points of an event's path and a socket's life, and
// where the reports go: nowhere by default (every report is an empty call), or into prom-client
// metrics (lib/metrics/prometheus.ts) when the `metrics` option is set. prom-client is an optional peer
// dependency: it is imported here, on demand, and nowhere else, so apps without metrics never load it.

import type { AckFrame, ClientEventType, DAGEvent, ErrorCode, ErrorFrame, ResyncReason, SequencedEvent } from '../../schemas/events.js'
import type { LogEntry, Replay } from '../backplane/types.js'
import { CloseCode } from '../shared/close-codes.js'
import { InvalidOptionError } from '../errors.js'
import { isUnauthenticated } from '../access/authorize.js'
import type { MetricsRegistry, ResolvedMetricsOptions } from '../options.js'

/** Why a stream upgrade was refused: the `reason` label of the refused-upgrades counter. */
export type RefusalReason =
  | 'forbidden'
  | 'unauthorized'
  | 'origin'
  | 'backplane_unavailable'
  | 'too_many_connections'
  /** The request itself was malformed (a bad `since` or `epoch`). */
  | 'bad_request'
  /** Anything else: `authorize` threw an unexpected error, say. */
  | 'error'

export const refusalReasons: readonly RefusalReason[] = [
  'forbidden',
  'unauthorized',
  'origin',
  'backplane_unavailable',
  'too_many_connections',
  'bad_request',
  'error'
]

/** The plugin's errors that refuse an upgrade, by their code. A new refusal adds its line here. */
const refusalByErrorCode: Readonly<Record<string, RefusalReason>> = {
  FST_DAG_STREAM_FORBIDDEN: 'forbidden',
  FST_DAG_STREAM_ORIGIN_NOT_ALLOWED: 'origin',
  FST_DAG_STREAM_BACKPLANE_UNAVAILABLE: 'backplane_unavailable',
  FST_DAG_STREAM_TOO_MANY_CONNECTIONS: 'too_many_connections'
}

/** The refusal reason of an error that ended a stream upgrade before the socket opened. */
export function refusalReasonOf (error: unknown): RefusalReason {
  if (isUnauthenticated(error)) return 'unauthorized'
  const { code, statusCode } = (error ?? {}) as { code?: unknown; statusCode?: unknown }
  if (typeof code === 'string' && Object.hasOwn(refusalByErrorCode, code)) return refusalByErrorCode[code] as RefusalReason
  return statusCode === 400 ? 'bad_request' : 'error'
}

/**
 * The `reason` label of a stream the server closed, by close code. A Record over every code, so a new
 * close code does not compile until it has a name here.
 */
export const closeReasons = {
  [CloseCode.NORMAL]: 'normal',
  [CloseCode.GOING_AWAY]: 'going_away',
  // The server never sends 1006: it stands for a peer the heartbeat found dead and terminated.
  [CloseCode.ABNORMAL]: 'heartbeat_timeout',
  // The server itself closes with 1008 only for its rate limits (too many messages, or too many
  // invalid ones); ws's own closes (1007, and 1008 for a fragment flood) are not counted here.
  [CloseCode.INVALID_PAYLOAD]: 'invalid_payload',
  [CloseCode.POLICY_VIOLATION]: 'rate_limited',
  [CloseCode.MESSAGE_TOO_BIG]: 'message_too_big',
  [CloseCode.INTERNAL_ERROR]: 'internal_error',
  [CloseCode.SLOW_CONSUMER]: 'slow_consumer',
  [CloseCode.UNAUTHORIZED]: 'credentials_expired',
  [CloseCode.FORBIDDEN]: 'forbidden'
} as const satisfies Record<CloseCode, string>

export type CloseReason = (typeof closeReasons)[CloseCode]

/** Why an open stream is told to resync (`ahead_of_log` only answers a resume, in `hello`). */
export type ResyncRequiredReason = Exclude<ResyncReason, 'ahead_of_log'>
export const resyncRequiredReasons: readonly ResyncRequiredReason[] = ['epoch_changed', 'history_exceeded']

/** What a client event's sender is answered; undefined: accepted, with no id to ack. */
export type CommandReply = AckFrame | ErrorFrame | undefined

/** The `outcome` label of a client event: accepted, the error code it was answered with, or failed. */
export type CommandOutcomeLabel = 'accepted' | ErrorCode | 'failed'

/** What the plugin reads when the metrics are collected, rather than counting on every change. */
export interface MetricsSources {
  /** Open streams on this instance, for one DAG or all. */
  connections(dagId?: string): number
  /** DAGs with at least one open stream on this instance. */
  rooms(): number
  /** Open live run lists (WebSockets on `GET {prefix}`) on this instance. */
  listConnections(): number
}

/** The GET route that serves the metrics. */
export interface ScrapeRoute {
  path: string
  registry: MetricsRegistry
}

/**
 * The reports. Each call site is one line; the ones on a socket's hot path (`frameSent`) must stay as
 * cheap as an addition, since they run once per frame and per socket.
 */
export interface Metrics {
  /** A frame went to a socket (DAG event or control frame). */
  frameSent(bytes: number): void
  /** The server closed a stream with `code` (1006: the heartbeat terminated a dead peer). */
  streamClosed(code: CloseCode): void
  /** The server closed a live run list's socket with `code` (1006: the heartbeat terminated a dead peer). */
  listClosed(code: CloseCode): void
  /** A `resync_required` frame went to a socket. */
  resyncSent(reason: ResyncRequiredReason): void
  /** A client that asked to resume (`since`) got this replay. */
  resumed(replay: Replay): void
  upgradeRefused(reason: RefusalReason): void
  /** Call right before the backplane's `append`; returns the clock reading to hand back with its outcome. */
  broadcastStarting(dagId: string): number
  /** The backplane numbered the event. */
  broadcast(dagId: string, event: DAGEvent, sequenced: SequencedEvent, startedAt: number): void
  broadcastFailed(dagId: string): void
  /** A room of this instance handed `entry` to its sockets. */
  delivered(dagId: string, entry: LogEntry): void
  /** The last stream of `dagId` on this instance is gone. */
  roomClosed(dagId: string): void
  /** Runs a client event and times it. */
  command(type: ClientEventType, run: () => Promise<CommandReply>): Promise<CommandReply>
  /** Where the metrics are served, if anywhere. */
  readonly scrapeRoute: ScrapeRoute | undefined
  /** Removes the metrics from their registry (the app closes). */
  close(): void
}

/** Metrics off: every report does nothing, and allocates nothing. */
export const noMetrics: Metrics = {
  frameSent () {},
  streamClosed () {},
  listClosed () {},
  resyncSent () {},
  resumed () {},
  upgradeRefused () {},
  broadcastStarting: () => 0,
  broadcast () {},
  broadcastFailed () {},
  delivered () {},
  roomClosed () {},
  command: (_type, run) => run(),
  scrapeRoute: undefined,
  close () {}
}

export type PromClient = typeof import('prom-client')

/** How prom-client is loaded: a parameter, so a test can play an app that did not install it. */
export type PromClientLoader = () => Promise<PromClient>

const loadPromClient: PromClientLoader = () => import('prom-client')

/**
 * The metrics the options ask for: `noMetrics` when they are off (prom-client is then never loaded),
 * or prom-client metrics in the chosen registry.
 */
export async function createMetrics (
  options: ResolvedMetricsOptions | false,
  sources: MetricsSources,
  load: PromClientLoader = loadPromClient
): Promise<Metrics> {
  if (options === false) return noMetrics
  let client: PromClient
  try {
    client = await load()
  } catch (error) {
    // Not installed, as a rule; the cause tells the rest (loaders do not all set ERR_MODULE_NOT_FOUND).
    const failure = new InvalidOptionError(
      `"metrics" needs prom-client 15, an optional peer dependency: npm install prom-client@15 (loading it failed: ${(error as Error).message})`
    )
    failure.cause = error
    throw failure
  }
  const { createPrometheusMetrics } = await import('./prometheus.js')
  return createPrometheusMetrics(client, { ...options, registry: options.registry ?? client.register }, sources)
}
