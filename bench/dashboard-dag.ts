// The DAG bench/dashboard.ts shows: layered like a real pipeline's fan-out (about √(2N) wide, so
// 5,000 nodes make 50 layers of 100), each node fed by one node of the layer above and, for 45 % of
// them, by a second one nearby (≈ 1.45 edges per node). Seeded: the same graph on every run.

import type { GraphNode, NodeStatus } from '../schemas/index.js'

export interface GeneratedDag {
  nodes: GraphNode[]
  edges: Array<[string, string]>
  /** Each node's status before the measured windows: the top third done, the next tenth running. */
  initial: NodeStatus[]
}

const KINDS = ['llm', 'tool', 'tool', 'llm', 'tool']
const MODELS = ['gpt-4o-mini', 'claude-haiku', 'llama-3-8b']

export function generateDag (size: number, seed = 1): GeneratedDag {
  const random = mulberry32(seed + size)
  const width = Math.ceil(Math.sqrt(2 * size))
  const id = (index: number) => `n${index}`
  const nodes: GraphNode[] = []
  const edges: Array<[string, string]> = []
  const initial: NodeStatus[] = []
  for (let index = 0; index < size; index += 1) {
    const kind = KINDS[index % KINDS.length] as string
    nodes.push({ id: id(index), label: `Step ${index}`, data: kind === 'llm' ? { kind, model: MODELS[index % MODELS.length] } : { kind } })
    const layer = Math.floor(index / width)
    const place = index % width
    initial.push(index < size * 0.33 ? 'completed' : index < size * 0.43 ? 'running' : 'pending')
    if (layer === 0) continue
    const above = (offset: number) => (layer - 1) * width + Math.min(width - 1, Math.max(0, place + offset))
    const first = above(Math.floor(random() * 3) - 1)
    edges.push([id(first), id(index)])
    if (random() < 0.45) {
      const second = above(Math.floor(random() * 7) - 3)
      if (second !== first) edges.push([id(second), id(index)])
    }
  }
  return { nodes, edges, initial }
}

/** A small seeded PRNG. */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
