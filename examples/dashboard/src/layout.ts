// Automatic layout with dagre: ranks top to bottom, so fan-out spreads sideways and the run reads
// downwards. Positions depend only on the graph's structure, so useLayout recomputes them only when a
// node or an edge is added or removed, not on every status change.
import dagre from '@dagrejs/dagre'
import { useMemo } from 'react'
import type { EdgeView, NodeView } from '../../../lib/index.js'

// Compact cards with large type, so that the whole graph fits a 1024 px laptop with labels that can
// still be read (styles.css sizes .step to match).
export const NODE_WIDTH = 176
export const NODE_HEIGHT = 48

export type Positions = Map<string, { x: number; y: number }>

function layoutGraph (nodes: readonly NodeView[], edges: readonly EdgeView[]): Positions {
  const graph = new dagre.graphlib.Graph()
  graph.setGraph({ rankdir: 'TB', nodesep: 16, ranksep: 22, marginx: 8, marginy: 8 })
  graph.setDefaultEdgeLabel(() => ({}))
  for (const node of nodes) graph.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT })
  for (const edge of edges) {
    if (graph.hasNode(edge.from) && graph.hasNode(edge.to)) graph.setEdge(edge.from, edge.to)
  }
  dagre.layout(graph)
  const positions: Positions = new Map()
  for (const node of nodes) {
    const { x, y } = graph.node(node.id)
    // dagre gives centres; React Flow wants top-left corners.
    positions.set(node.id, { x: x - NODE_WIDTH / 2, y: y - NODE_HEIGHT / 2 })
  }
  return positions
}

/** The positions of `nodes`, computed again only when a node or an edge was added or removed. */
export function useLayout (nodes: readonly NodeView[], edges: readonly EdgeView[]): Positions {
  const structure = structureKey(nodes, edges)
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `structure` is the part of nodes and edges the layout reads
  return useMemo(() => layoutGraph(nodes, edges), [structure])
}

/** A key that changes exactly when the layout could. */
function structureKey (nodes: readonly NodeView[], edges: readonly EdgeView[]): string {
  return `${nodes.map((node) => node.id).join(',')}|${edges.map((edge) => `${edge.from}>${edge.to}`).join(',')}`
}
