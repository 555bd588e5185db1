// The demo's groups (subgraphs): a box around the members in sight, and a collapsed group that shows
// only its parent, its members' edges leading to it.

import t from 'tap'
import { groupGraph } from '../../examples/dashboard/src/groups.js'
import type { Positions } from '../../examples/dashboard/src/layout.js'
import type { EdgeView, NodeView } from '../../lib/index.js'

const nodes: NodeView[] = [
  { id: 'plan', status: 'completed' },
  { id: 'research', label: 'Research', status: 'running' },
  { id: 'research:search', parent: 'research', status: 'running' },
  { id: 'research:read', parent: 'research', status: 'pending' },
  { id: 'research:read:pdf', parent: 'research:read', status: 'pending' },
  { id: 'write', parent: 'nowhere', status: 'pending' }
]
const edges: EdgeView[] = [
  { from: 'plan', to: 'research:search', active: true },
  { from: 'research:search', to: 'research:read' },
  { from: 'research:read', to: 'research:read:pdf' },
  { from: 'research:read:pdf', to: 'write' },
  { from: 'research:search', to: 'write' }
]
const positions: Positions = new Map([
  ['plan', { x: 0, y: 0 }],
  ['research', { x: 300, y: 0 }],
  ['research:search', { x: 0, y: 100 }],
  ['research:read', { x: 200, y: 200 }],
  ['research:read:pdf', { x: 200, y: 300 }],
  ['write', { x: 0, y: 400 }]
])

t.test('expanded: every node, every edge as the store has it, a box per group around its members', async (t) => {
  const grouped = groupGraph(nodes, edges, positions, new Set())
  t.equal(grouped.nodes.length, nodes.length)
  t.equal(grouped.edges[0], edges[0], 'the store\'s own records')
  t.same(grouped.groups, [{ id: 'research', label: 'Research', size: 3 }, { id: 'research:read', label: 'research:read', size: 1 }], 'a parent that is no node is no group')
  t.same(grouped.boxes[0], { id: 'research', label: 'Research', x: -10, y: 90, width: 396, height: 268 })
})

t.test('collapsed: the members hide in their parent, their edges lead to it, once each', async (t) => {
  const grouped = groupGraph(nodes, edges, positions, new Set(['research']))
  t.same(grouped.nodes.map((node) => node.id), ['plan', 'research', 'write'])
  t.same(grouped.edges, [{ from: 'plan', to: 'research', active: true }, { from: 'research', to: 'write', active: undefined }])
  t.same(grouped.boxes, [], 'no box for a folded group, nor for one inside it')
  const inner = groupGraph(nodes, edges, positions, new Set(['research:read']))
  t.same(inner.nodes.map((node) => node.id), ['plan', 'research', 'research:search', 'research:read', 'write'])
  t.same(inner.boxes.map((box) => box.id), ['research'])
})
