// `fastify-dag-stream/react`: the useDAGStream hook, and its parts for big views (useDAGSelector, useDAGNode). React is a peer dependency, imported only here.

export { useDAGStream } from './use-dag-stream.js'
export { useDAGNode, useDAGSelector } from './use-dag-selector.js'
export { useDAGList, type DAGListHookResult, type UseDAGListOptions } from './use-dag-list.js'
export type { DAGStreamHookResult, UseDAGStreamOptions } from './shared-clients.js'
// A value, not only a type: `error instanceof DAGStreamError` needs no second import.
export { DAGStreamError } from '../client/index.js'
export type { DAGListQuery, DAGListStatus } from '../client/index.js'
export type { ConnectionStatus, DAGExistence, DAGStreamClientEvents, DAGStreamErrorCode, DAGView, PresenceView, ReconnectInfo, StreamTransport } from '../client/index.js'
