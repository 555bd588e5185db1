// `fastify-dag-stream/react`: the useDAGStream hook. React is a peer dependency, imported only here.

export { useDAGStream } from './use-dag-stream.js'
export type { DAGStreamHookResult, UseDAGStreamOptions } from './shared-clients.js'
export type { ConnectionStatus, DAGStreamError, DAGView, ReconnectInfo } from '../client/index.js'
