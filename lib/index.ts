// The server entry point: `import dagStream from 'fastify-dag-stream'`.
import { dagStream } from './plugin.js'

export default dagStream
export { dagStream }
export type { DagStream } from './plugin.js'
export type { ClientEventContext, ClientEventHandler } from './commands/commands.js'
export type {
  Action,
  AsyncApiRouteOptions,
  Authorize,
  AuthorizeGrant,
  AuthorizeResult,
  DagStreamOptions,
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
  DagListQuery,
  DagStatus,
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
