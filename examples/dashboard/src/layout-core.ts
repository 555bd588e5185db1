// Where each step goes, computed from the graph's structure only (never from statuses). Runs in the
// layout worker (layout.worker.ts), or on the main thread where there are no workers (the tests).
//
// Two layouts, both top to bottom so that fan-out spreads sideways and the run reads downwards:
// - up to DAGRE_MAX_NODES steps, dagre's: it orders each row to cross as few edges as it can, which
//   makes a pipeline of a few dozen steps read well;
// - beyond, a layered layout of our own, O(nodes + edges): each step on the row after its furthest
//   parent (the longest path), ordered within its row by where its parents are. dagre's crossing
//   reduction grows far faster than the graph: 0.5 s for 200 steps, 5 s for 1,000, minutes for 5,000.
import dagre from '@dagrejs/dagre'

// Compact cards with large type, so that the whole graph fits a 1024 px laptop with labels that can
// still be read (styles.css sizes .step to match).
export const NODE_WIDTH = 176
export const NODE_HEIGHT = 48
const NODE_SEP = 16
const RANK_SEP = 22
const MARGIN = 8
/** Beyond this many steps, the layered layout. */
export const DAGRE_MAX_NODES = 250

export interface LayoutRequest {
  id: number
  nodes: string[]
  edges: Array<[string, string]>
}

/** x, y of each node of the request, in its order: top-left corners, as React Flow wants them. */
export interface LayoutResult {
  id: number
  xy: Float64Array
}

export function layout ({ id, nodes, edges }: LayoutRequest): LayoutResult {
  return { id, xy: nodes.length <= DAGRE_MAX_NODES ? dagreLayout(nodes, edges) : layeredLayout(nodes, edges) }
}

function dagreLayout (nodes: string[], edges: Array<[string, string]>): Float64Array {
  const graph = new dagre.graphlib.Graph()
  graph.setGraph({ rankdir: 'TB', nodesep: NODE_SEP, ranksep: RANK_SEP, marginx: MARGIN, marginy: MARGIN })
  graph.setDefaultEdgeLabel(() => ({}))
  for (const node of nodes) graph.setNode(node, { width: NODE_WIDTH, height: NODE_HEIGHT })
  for (const [from, to] of edges) {
    if (graph.hasNode(from) && graph.hasNode(to)) graph.setEdge(from, to)
  }
  dagre.layout(graph)
  const xy = new Float64Array(nodes.length * 2)
  nodes.forEach((node, index) => {
    const { x, y } = graph.node(node)
    // dagre gives centres.
    xy[index * 2] = x - NODE_WIDTH / 2
    xy[index * 2 + 1] = y - NODE_HEIGHT / 2
  })
  return xy
}

export function layeredLayout (nodes: string[], edges: Array<[string, string]>): Float64Array {
  const count = nodes.length
  const indexOf = new Map(nodes.map((node, index) => [node, index]))
  const parents: number[][] = nodes.map(() => [])
  const children: number[][] = nodes.map(() => [])
  const waiting = new Int32Array(count)
  for (const [from, to] of edges) {
    const source = indexOf.get(from)
    const target = indexOf.get(to)
    if (source === undefined || target === undefined || source === target) continue
    parents[target]?.push(source)
    children[source]?.push(target)
    waiting[target] = (waiting[target] as number) + 1
  }
  // Longest path from the roots, in topological order (Kahn). A cycle, which a DAG should not have,
  // leaves its steps unvisited: they go on the row after the deepest one.
  const rank = new Int32Array(count)
  const queue: number[] = []
  for (let index = 0; index < count; index += 1) if (waiting[index] === 0) queue.push(index)
  let visited = 0
  for (let head = 0; head < queue.length; head += 1) {
    const node = queue[head] as number
    visited += 1
    for (const child of children[node] as number[]) {
      rank[child] = Math.max(rank[child] as number, (rank[node] as number) + 1)
      waiting[child] = (waiting[child] as number) - 1
      if (waiting[child] === 0) queue.push(child)
    }
  }
  let deepest = 0
  for (const node of queue) deepest = Math.max(deepest, rank[node] as number)
  if (visited < count) {
    for (let index = 0; index < count; index += 1) if (waiting[index] !== 0) rank[index] = deepest + 1
  }
  const rows: number[][] = []
  for (let index = 0; index < count; index += 1) (rows[rank[index] as number] ??= []).push(index)

  // Row by row, each step under the middle of its parents (their places in the rows above), so that
  // edges run mostly straight down; ties keep the engine's order.
  const place = new Float64Array(count)
  const xy = new Float64Array(count * 2)
  let widest = 0
  for (const row of rows) widest = Math.max(widest, row?.length ?? 0)
  rows.forEach((row, depth) => {
    if (row === undefined) return
    const wanted = new Float64Array(count)
    for (const node of row) {
      const above = parents[node] as number[]
      let sum = 0
      for (const parent of above) sum += place[parent] as number
      wanted[node] = above.length === 0 ? node / count : sum / above.length
    }
    row.sort((a, b) => (wanted[a] as number) - (wanted[b] as number) || a - b)
    const offset = (widest - row.length) / 2
    row.forEach((node, column) => {
      place[node] = (column + offset) / Math.max(1, widest)
      xy[node * 2] = MARGIN + (column + offset) * (NODE_WIDTH + NODE_SEP)
      xy[node * 2 + 1] = MARGIN + depth * (NODE_HEIGHT + RANK_SEP)
    })
  })
  return xy
}
