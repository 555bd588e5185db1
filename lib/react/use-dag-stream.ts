// The React face of the client: useSyncExternalStore over a shared client and its store.

import { useSyncExternalStore } from 'react'
import { sharedClient, type DAGStreamHookResult, type UseDAGStreamOptions } from './shared-clients.js'

/**
 * Follows one DAG live. Hooks for the same DAG (and API) share one socket; the last to unmount closes
 * it and clears its timers. Options are read when the DAG's client is created, by the first hook.
 * @example
 * function Run ({ id }: { id: string }) {
 *   const { state, status, decide } = useDAGStream(id, { baseUrl: 'https://api.example.com' })
 *   return <Graph nodes={[...state.nodes.values()]} live={status === 'open'} onApprove={(node) => decide(node, 'approve')} />
 * }
 */
export function useDAGStream (dagId: string, options: UseDAGStreamOptions = {}): DAGStreamHookResult {
  const entry = sharedClient(dagId, options)
  return useSyncExternalStore(entry.subscribe, entry.getResult, entry.getResult)
}
