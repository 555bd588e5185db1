// Hooks that read a part of a DAG, for views too big to draw again at every change: a graph of
// thousands of cards, where each card follows its own node and the list of cards changes only with the
// graph's structure.

import { useCallback, useSyncExternalStore } from 'react'
import type { NodeView } from '../../schemas/snapshot.js'
import type { DAGView } from '../client/index.js'
import { checkOption } from '../client/options.js'
import { sharedClient, type UseDAGStreamOptions } from './shared-clients.js'

/**
 * What `selector` reads of the DAG, re-rendering only when that changed (compared with `Object.is`).
 * The selector runs after every change (once per `throttleMs`), for every hook: keep it a lookup, and
 * return a record of the state as it is (the store replaces a record that changed and keeps the others)
 * or a primitive, never a new object or array, which would differ every time. Shares the DAG's client
 * with `useDAGStream`.
 * @example
 * const paused = useDAGSelector(dagId, (state) => state.status === 'paused')
 */
export function useDAGSelector<Selected> (dagId: string, selector: (state: DAGView) => Selected, options: UseDAGStreamOptions = {}): Selected {
  const { throttleMs: rawThrottleMs, ...clientOptions } = options
  const throttleMs = checkOption.milliseconds('throttleMs', rawThrottleMs, 0)
  const entry = sharedClient(dagId, clientOptions)
  const subscribe = useCallback((onChange: () => void) => entry.subscribeState(onChange, throttleMs), [entry, throttleMs])
  const select = () => selector(entry.client.store.getSnapshot())
  return useSyncExternalStore(subscribe, select, select)
}

/**
 * One node of the DAG (undefined while it has none by that id), re-rendering only when that node
 * changed: a card in a graph of thousands.
 * @example
 * function Card ({ id }: { id: string }) {
 *   const node = useDAGNode('run-42', id, { throttleMs: 50 })
 *   return <div data-status={node?.status}>{node?.label ?? id}</div>
 * }
 */
export function useDAGNode (dagId: string, nodeId: string, options: UseDAGStreamOptions = {}): NodeView | undefined {
  return useDAGSelector(dagId, (state) => state.nodes.get(nodeId), options)
}
