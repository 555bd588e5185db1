// The live run list in React: useSyncExternalStore over a DAGListClient shared by every hook that
// shows the same list (same API, same query), connected by the first subscriber and closed one
// microtask after the last one leaves (StrictMode unsubscribes and subscribes again in one commit).

import { useSyncExternalStore } from 'react'
import {
  createDAGListClient,
  DEFAULT_PREFIX,
  type DAGListClient,
  type DAGListClientOptions,
  type DAGListQuery,
  type DAGListStatus,
  type DAGStreamError,
  type ReconnectInfo
} from '../client/index.js'
import type { DAGSummary } from '../../schemas/snapshot.js'
import { resolveBaseUrl } from '../client/options.js'

/** The hook's options: the client's, but the hook owns the query and the connection. */
export type UseDAGListOptions = Omit<DAGListClientOptions, 'query' | 'connect'>

/** What `useDAGList` returns: a new object when something in it changed, the same one otherwise. */
export interface DAGListHookResult {
  /** The page, kept in the query's order; empty until the first page arrives. Each DAG carries `open_gates`. */
  dags: readonly DAGSummary[]
  /** How many DAGs match the query's status filter (see DAGListClient on how exact it stays). */
  total: number
  /** The connection's state: `open` when live. */
  connection: DAGListStatus
  /** @deprecated use `connection` (the same value) */
  status: DAGListStatus
  /** The last problem, until the next page. */
  error: DAGStreamError | undefined
  /** While `reconnecting`: when the next attempt starts. */
  reconnect: ReconnectInfo | undefined
}

interface SharedList {
  subscribe (onChange: () => void): () => void
  getResult (): DAGListHookResult
}

const shared = new Map<string, SharedList>()

function sharedList (query: DAGListQuery, options: UseDAGListOptions): SharedList {
  // The key names the list, not the options: the first hook's options create the client. A query
  // written inline (a new object at every render) names the same list.
  const { limit, offset, order, status } = query
  const key = JSON.stringify([resolveBaseUrl(options.baseUrl), options.prefix ?? DEFAULT_PREFIX, limit, offset, order, status])
  let entry = shared.get(key)
  if (entry === undefined) {
    entry = createShared(key, createDAGListClient({ ...options, query, connect: false }))
    shared.set(key, entry)
  }
  return entry
}

function createShared (key: string, client: DAGListClient): SharedList {
  let subscribers = 0
  let result: DAGListHookResult | undefined
  const entry: SharedList = {
    subscribe (onChange) {
      subscribers += 1
      const unsubscribe = [client.on('list', onChange), client.on('connection', onChange), client.on('error', onChange), client.on('reconnecting', onChange)]
      client.connect()
      return () => {
        for (const off of unsubscribe) off()
        subscribers -= 1
        queueMicrotask(() => {
          if (subscribers > 0) return
          client.close()
          if (shared.get(key) === entry) shared.delete(key)
        })
      }
    },
    getResult () {
      const { view, connection, error, reconnect } = client
      if (result?.dags !== view.dags || result.total !== view.total || result.connection !== connection || result.error !== error || result.reconnect !== reconnect) {
        result = { dags: view.dags, total: view.total, connection, status: connection, error, reconnect }
      }
      return result
    }
  }
  return entry
}

/**
 * Lists DAGs live: the page the query asks for, kept current by the server's changes (creations,
 * status changes, gates opened or decided, evictions), over one socket shared by every hook that shows
 * the same list.
 * @example
 * function Runs () {
 *   const { dags, connection } = useDAGList({ limit: 50, status: ['running', 'paused'] })
 *   return <ul aria-busy={connection !== 'open'}>{dags.map((dag) => <li key={dag.dag_id}>{dag.dag_id}: {dag.status}</li>)}</ul>
 * }
 */
export function useDAGList (query: DAGListQuery = {}, options: UseDAGListOptions = {}): DAGListHookResult {
  const entry = sharedList(query, options)
  return useSyncExternalStore(entry.subscribe, entry.getResult, entry.getResult)
}
