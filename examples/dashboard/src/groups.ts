// Groups (subgraphs): nodes whose `parent` names another node. The graph draws a box around a group's
// members, and a collapsed group shows only its parent's card: its members are hidden and their edges
// lead to the parent instead. Pure, so the graph only draws what this works out.
import type { EdgeView, NodeView } from '../../../lib/index.js'
import { NODE_HEIGHT, NODE_WIDTH, type Positions } from './layout.js'

/** Space between a group's members and its box. */
const BOX_PADDING = 10

export interface GroupBox {
  /** The parent's id. */
  id: string
  label: string
  x: number
  y: number
  width: number
  height: number
}

export interface GroupInfo {
  id: string
  label: string
  /** How many nodes the group holds, nested ones included. */
  size: number
}

export interface GroupedNodes {
  nodes: NodeView[]
  /** A box per expanded group with a member in sight. */
  boxes: GroupBox[]
  /** Every group of the graph, for the collapse toggles. */
  groups: GroupInfo[]
  /** The node drawn in place of each node: its outermost collapsed ancestor, or itself. */
  shownAs: ReadonlyMap<string, string>
}

export interface GroupedGraph extends Omit<GroupedNodes, 'shownAs'> {
  /** The edges to draw: an edge whose end is hidden leads to the collapsed group that hides it. */
  edges: EdgeView[]
}

const NO_BOXES: GroupBox[] = []
const NO_GROUPS: GroupInfo[] = []
const SHOWN_AS_ITSELF: ReadonlyMap<string, string> = new Map()

export function groupGraph (
  nodes: readonly NodeView[],
  edges: readonly EdgeView[],
  positions: Positions,
  collapsed: ReadonlySet<string>
): GroupedGraph {
  const { shownAs, ...grouped } = groupNodes(nodes, positions, collapsed)
  return { ...grouped, edges: groupEdges(edges, shownAs) }
}

/**
 * The nodes to draw, the groups' boxes and toggles. Apart from the edges, which change more often (an
 * edge that starts or stops carrying data), so that the graph works this out only when the shape does.
 */
export function groupNodes (nodes: readonly NodeView[], positions: Positions, collapsed: ReadonlySet<string>): GroupedNodes {
  // Most runs have no groups: the store's own array then, and nothing more to work out.
  if (!nodes.some((node) => node.parent !== undefined)) return { nodes: nodes as NodeView[], boxes: NO_BOXES, groups: NO_GROUPS, shownAs: SHOWN_AS_ITSELF }
  const byId = new Map(nodes.map((node) => [node.id, node]))
  /** A node's ancestors, nearest first; a parent that is not a node of the graph is no group. */
  const ancestors = (node: NodeView): string[] => {
    const chain: string[] = []
    for (let parent = node.parent; parent !== undefined && byId.has(parent) && !chain.includes(parent); parent = byId.get(parent)?.parent) chain.push(parent)
    return chain
  }
  const shownAs = new Map<string, string>()
  const members = new Map<string, string[]>()
  for (const node of nodes) {
    const chain = ancestors(node)
    for (const group of chain) {
      let list = members.get(group)
      if (list === undefined) members.set(group, (list = []))
      list.push(node.id)
    }
    const hiddenBy = chain.filter((group) => collapsed.has(group)).at(-1)
    shownAs.set(node.id, hiddenBy ?? node.id)
  }

  const boxes: GroupBox[] = []
  const groups: GroupInfo[] = []
  for (const [id, ids] of members) {
    const label = byId.get(id)?.label ?? id
    groups.push({ id, label, size: ids.length })
    if (collapsed.has(id) || shownAs.get(id) !== id) continue
    const corners = ids.filter((member) => shownAs.get(member) === member).map((member) => positions.get(member)).filter((position) => position !== undefined)
    if (corners.length === 0) continue
    const x = Math.min(...corners.map((corner) => corner.x)) - BOX_PADDING
    const y = Math.min(...corners.map((corner) => corner.y)) - BOX_PADDING
    boxes.push({
      id,
      label,
      x,
      y,
      width: Math.max(...corners.map((corner) => corner.x)) + NODE_WIDTH + BOX_PADDING - x,
      height: Math.max(...corners.map((corner) => corner.y)) + NODE_HEIGHT + BOX_PADDING - y
    })
  }
  return { nodes: nodes.filter((node) => shownAs.get(node.id) === node.id), boxes, groups, shownAs }
}

/** The edges to draw, given where each node is drawn (groupNodes' `shownAs`). */
export function groupEdges (edges: readonly EdgeView[], shownAs: ReadonlyMap<string, string>): EdgeView[] {
  // No node hidden: the store's own array.
  if (shownAs.size === 0) return edges as EdgeView[]
  const shownEdges: EdgeView[] = []
  const seen = new Set<string>()
  for (const edge of edges) {
    const from = shownAs.get(edge.from) ?? edge.from
    const to = shownAs.get(edge.to) ?? edge.to
    if (from === to) continue
    const key = `${from}>${to}`
    if (seen.has(key)) continue
    seen.add(key)
    // The store's own record when nothing was rerouted, so the graph redraws it only when it changed.
    shownEdges.push(from === edge.from && to === edge.to ? edge : { from, to, active: edge.active })
  }
  return shownEdges
}
