// `fastify-dag-stream/client`: the framework-free stream client. No React, no Node built-ins: it runs
// in browsers as is, and in Node 20 with `WebSocket` from `ws` passed in (or `transport: 'sse'`).

export {
  createDAGStreamClient,
  DAGStreamClient,
  type ConnectionStatus,
  type DAGExistence,
  type DAGStreamClientEvents,
  type DecideOptions,
  type ReconnectInfo,
  type StreamPosition,
  type StreamTransport
} from './client.js'
export type { PresenceView } from './presence.js'
export {
  createDAGListClient,
  DAGListClient,
  type DAGListClientEvents,
  type DAGListClientOptions,
  type DAGListQuery,
  type DAGListStatus,
  type DAGListView
} from './list.js'
export { createDAGStore, type DAGStore, type DAGView, type DefaultDAGStore } from './store.js'
export {
  Backoff,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_MIN_DELAY_MS,
  DEFAULT_RESET_AFTER_MS,
  type BackoffOptions
} from './backoff.js'
export { DAGStreamError, type ClientErrorCode, type DAGStreamErrorCode, type DAGStreamErrorDetails } from './errors.js'
export { AUTO_FALLBACK_AFTER_FAILURES, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_PREFIX, type DAGStreamClientOptions } from './options.js'
export type { FetchLike, WebSocketConstructor, WebSocketLike } from './transport.js'
export type { Listener } from './emitter.js'
export { shouldReconnect, CloseCode } from '../shared/close-codes.js'
export { fromIdentifier, isIdentifier, MAX_IDENTIFIER_LENGTH, toIdentifier } from '../shared/identifier.js'
export type * from '../../schemas/index.js'
