// The React face of the client: useSyncExternalStore over a shared client and its store.

import { useCallback, useSyncExternalStore } from 'react'
import { checkOption } from '../client/options.js'
import { sharedClient, type DAGStreamHookResult, type UseDAGStreamOptions } from './shared-clients.js'
import { throttle } from './throttle.js'

/**
 * Follows one DAG live. Hooks for the same DAG (and API) share one socket; the last to unmount closes
 * it and clears its timers. Options are read when the DAG's client is created, by the first hook;
 * `throttleMs` is each hook's own.
 * @example
 * function Run ({ id }: { id: string }) {
 *   const { state, connection, decide } = useDAGStream(id, { baseUrl: 'https://api.example.com', throttleMs: 100 })
 *   return <Graph nodes={[...state.nodes.values()]} live={connection === 'open'} onApprove={(node) => decide(node, 'approve')} />
 * }
 */
export function useDAGStream (dagId: string, options: UseDAGStreamOptions = {}): DAGStreamHookResult {
  const { throttleMs: rawThrottleMs, ...clientOptions } = options
  const throttleMs = checkOption.milliseconds('throttleMs', rawThrottleMs, 0)
  const entry = sharedClient(dagId, clientOptions)
  const subscribe = useCallback((onChange: () => void) => {
    if (throttleMs === 0) return entry.subscribe(onChange)
    const throttled = throttle(onChange, throttleMs)
    const unsubscribe = entry.subscribe(throttled.call)
    return () => {
      unsubscribe()
      throttled.cancel()
    }
  }, [entry, throttleMs])
  return useSyncExternalStore(subscribe, entry.getResult, entry.getResult)
}
