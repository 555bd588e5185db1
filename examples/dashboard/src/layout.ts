// Positions for the graph: computed in a Web Worker (layout.worker.ts), and only when the structure
// changes, never for a status change. While the first layout is on its way the graph shows that it is
// laying out; later, the previous positions stay until the new ones arrive, so nothing jumps twice.
import { useEffect, useState } from 'react'
import type { EdgeView, NodeView } from '../../../lib/index.js'
import { layout, type LayoutRequest, type LayoutResult } from './layout-core.js'

export { NODE_HEIGHT, NODE_WIDTH } from './layout-core.js'

export type Positions = ReadonlyMap<string, { x: number; y: number }>

/**
 * The positions of `nodes`, or undefined until the first layout arrives. A node added since the last
 * layout has none until the next one.
 */
export function useLayout (nodes: readonly NodeView[], edges: readonly EdgeView[]): Positions | undefined {
  const [positions, setPositions] = useState<Positions | undefined>()
  const [worker] = useState(createWorker)
  const structure = structureKey(nodes, edges)
  useEffect(() => () => worker?.terminate(), [worker])
  useEffect(() => {
    lastRequest += 1
    const request: LayoutRequest = { id: lastRequest, nodes: nodes.map((node) => node.id), edges: edges.map((edge) => [edge.from, edge.to]) }
    const apply = ({ xy }: LayoutResult) => {
      const next = new Map<string, { x: number; y: number }>()
      request.nodes.forEach((id, index) => next.set(id, { x: xy[index * 2] as number, y: xy[index * 2 + 1] as number }))
      setPositions(next)
    }
    // No workers (the tests' DOM): the same layout, after this render.
    if (worker === undefined) {
      apply(layout(request))
      return
    }
    const onMessage = (event: MessageEvent<LayoutResult>) => {
      if (event.data.id === request.id) apply(event.data)
    }
    worker.addEventListener('message', onMessage)
    worker.postMessage(request)
    // A newer structure makes this answer stale: it is dropped when it comes.
    return () => worker.removeEventListener('message', onMessage)
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `structure` is the part of nodes and edges the layout reads
  }, [structure, worker])
  return positions
}

/**
 * Numbers each request, so that an answer meets the request it answers: the worker may still be on
 * an older structure's layout (the empty graph before the snapshot) when a newer one is asked for.
 */
let lastRequest = 0

function createWorker (): Worker | undefined {
  if (typeof Worker === 'undefined') return undefined
  return new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' })
}

/**
 * A key that changes when the structure does, without joining thousands of ids at every render: the
 * counts, and the last node and edge. The store's maps keep insertion order, so a node or edge added
 * comes last and changes the key, and one removed changes a count. What it misses: removals and
 * additions within one render that leave both the counts and the last entries as they were (remove
 * A and the last node L, add B and then L again); the layout then waits for the next change.
 */
function structureKey (nodes: readonly NodeView[], edges: readonly EdgeView[]): string {
  const lastEdge = edges.at(-1)
  return `${nodes.length}|${nodes.at(-1)?.id ?? ''}|${edges.length}|${lastEdge === undefined ? '' : `${lastEdge.from}>${lastEdge.to}`}`
}
