// The server entry point: `import dagStream from 'fastify-dag-stream'`.
import { dagStream } from './plugin.js'

export default dagStream
export { dagStream }
export type { DAGStream } from './plugin.js'
export type { ClientEventContext, ClientEventHandler } from './commands/commands.js'
export type { Action, Authorize, AuthorizeGrant, AuthorizeResult, DAGAction } from './access/authorize.js'
export type {
  AsyncApiRouteOptions,
  DAGStreamOptions,
  MetricsOptions,
  MetricsRegistry,
  RateLimitOptions
} from './options.js'
export { buildAsyncApiDocument, type AsyncApiDocument, type AsyncApiOptions } from './http/asyncapi.js'
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HISTORY_SIZE,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_IDLE_MS,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_QUEUED_EVENTS,
  DEFAULT_METRICS_PREFIX,
  DEFAULT_METRICS_ROUTE,
  DEFAULT_OUTPUT_FLUSH_MS,
  DEFAULT_PREFIX,
  DEFAULT_RATE_LIMIT,
  DEFAULT_RETAIN_FINISHED_MS,
  DEFAULT_SNAPSHOT_CACHE_BYTES
} from './options.js'
export * from './errors.js'
export { redactedRequest } from './http/log.js'
export { CloseCode, closeCodeDescriptions, shouldReconnect } from './shared/close-codes.js'
export { fromIdentifier, isIdentifier, MAX_IDENTIFIER_LENGTH, toIdentifier } from './shared/identifier.js'
export {
  applyEvent,
  createState,
  fromSnapshot,
  isFinished,
  MAX_PARTIAL_OUTPUT_LENGTH,
  PARTIAL_OUTPUT_CUT_MARKER,
  toSnapshot,
  type DAGState
} from './shared/reducer.js'
export type { OutputWriter } from './engine/output.js'
export type { ControlEvent, ControlHandler, GateDecision, GateOptions, RunHandle } from './engine/run.js'
export { MemoryBackplane, memoryBackplane } from './backplane/memory/backplane.js'
export type {
  Backplane,
  BackplaneProvider,
  BackplaneSettings,
  CommandExecutor,
  CommandOutcome,
  CommandSender,
  DAGListPageQuery,
  LogHead,
  GateTransition,
  ListChangeListener,
  ListGap,
  LogEntry,
  LogListener,
  Replay,
  StreamMessage,
  StreamMessageReceiver
} from './backplane/types.js'
export type { ClaimRecord, GateClaim, GatePhase, GateRecord } from './commands/gates.js'
export type * from '../schemas/index.js'

// The names these had before one casing (DAG) was chosen; kept for one release.
/** @deprecated use DAGStream */
export type DagStream = import('./plugin.js').DAGStream
/** @deprecated use DAGStreamOptions */
export type DagStreamOptions = import('./options.js').DAGStreamOptions
/** @deprecated use DAGListPageQuery */
export type DagListQuery = import('./backplane/types.js').DAGListPageQuery
/** @deprecated use LogHead */
export type DagStatus = import('./backplane/types.js').LogHead
