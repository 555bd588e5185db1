// The run's graph: laid out automatically (layout.ts), coloured by status, with animated edges where data flows.
//
// Built to stay smooth at thousands of steps: React Flow draws only what is in view, and gets the same
// nodes and edges arrays until the structure, the layout or the selection changes. A status change never
// reaches it: each card follows its own node (StepNode.tsx), so React Flow does not go over thousands of
// nodes and edges to redraw one card. A big graph (BIG_GRAPH steps and more) opens on its work in
// progress at a readable zoom instead of fitting 5,000 cards into the window; no card pulses and no edge
// is animated there (each is an animation that keeps the page painting every frame), and zoomed out a
// big graph's cards drop their text (FAR_ZOOM; a small graph keeps it: on a phone its whole-graph view
// is that far out, and its text costs little).
// Groups (subgraphs: nodes with a `parent`, groups.ts) get a box around their members, and a toggle
// each that folds the group into its parent's card.
import { Background, Controls, MarkerType, Position, ReactFlow, ReactFlowProvider, useReactFlow, useStore, type Dimensions, type Edge, type Node, type NodeChange, type NodeHandle, type NodeProps, type Viewport } from '@xyflow/react'
import '@xyflow/react/dist/style.css'
import { useEffect, useMemo, useRef, useState } from 'react'
import type { EdgeView, NodeView } from '../../../lib/index.js'
import { groupEdges, groupNodes, type GroupBox } from './groups.js'
import { NODE_HEIGHT, NODE_WIDTH, type Positions } from './layout.js'
import { StepNode, type StepNodeType } from './StepNode.js'

type GroupBoxNode = Node<{ label: string }, 'groupBox'>

/** The box behind a group's members: drawn, never selected. */
function GroupBoxView ({ data }: NodeProps<GroupBoxNode>) {
  return <div className='group-box' data-testid='group-box'><span className='group-box__label'>{data.label}</span></div>
}

const nodeTypes = { step: StepNode, groupBox: GroupBoxView }
const NO_POSITIONS: Positions = new Map()
const FIT = { padding: 0.06 }
/** From this many steps on, the graph is drawn for size rather than for show (see above). */
export const BIG_GRAPH = 200
/** Below this zoom the cards are too small to read: they show their colour only. */
const FAR_ZOOM = 0.45
/** The zoom a big graph opens at. */
const BIG_GRAPH_ZOOM = 0.8
/**
 * A card's size and handles, known in advance (styles.css gives every card this size; React Flow's
 * handles are 8 px boxes centred on the edge). React Flow draws every card it has not measured, in view
 * or not, to measure it: with these, a big graph mounts only the cards in view.
 */
const CARD_SIZE = { width: NODE_WIDTH, height: NODE_HEIGHT }
const HANDLE = 8
const CARD_HANDLES: NodeHandle[] = [
  { type: 'target', position: Position.Top, x: NODE_WIDTH / 2 - HANDLE / 2, y: -HANDLE / 2, width: HANDLE, height: HANDLE },
  { type: 'source', position: Position.Bottom, x: NODE_WIDTH / 2 - HANDLE / 2, y: NODE_HEIGHT - HANDLE / 2, width: HANDLE, height: HANDLE }
]

interface GraphProps {
  /**
   * The run's nodes: a new array when the shape changes (DAGView.structure). The graph reads their ids,
   * parents and labels, and the statuses once, for a big graph's first view; each card reads its own node.
   */
  nodes: readonly NodeView[]
  edges: readonly EdgeView[]
  /** From useLayout: a new map only when the structure changes; undefined until the first layout. */
  positions: Positions | undefined
  selected: string | undefined
  onSelect: (nodeId: string | undefined) => void
  /** Steps in flight while the run is paused are on hold, not working. */
  runPaused: boolean
  /** Not live (reconnecting, resyncing, behind the stream): drawn greyed and still. */
  stale?: boolean
}

export function Graph (props: GraphProps) {
  return (
    <ReactFlowProvider>
      <FlowCanvas {...props} />
    </ReactFlowProvider>
  )
}

function FlowCanvas ({ nodes: allNodes, edges: allEdges, positions, selected, onSelect, runPaused, stale = false }: GraphProps) {
  const { fitView } = useReactFlow()
  const container = useRef<HTMLDivElement>(null)
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set())
  // The nodes only when the shape or the layout changed; the edges also when one starts or stops carrying data.
  const { nodes, boxes, groups, shownAs } = useMemo(() => groupNodes(allNodes, positions ?? NO_POSITIONS, collapsed), [allNodes, positions, collapsed])
  const edges = useMemo(() => groupEdges(allEdges, shownAs), [allEdges, shownAs])
  const toggle = (groupId: string) => setCollapsed((previous) => {
    const next = new Set(previous)
    if (!next.delete(groupId)) next.add(groupId)
    return next
  })
  const big = allNodes.length >= BIG_GRAPH
  const far = useStore((store) => store.transform[2] < FAR_ZOOM)
  // The graph's box, once the browser has measured it: a big graph's first viewport depends on it.
  const [box, setBox] = useState<{ width: number; height: number } | undefined>()

  // A node added mid-run can land outside the view: refit when the layout changes. Not for a big graph,
  // where a refit would take the user away from the part they are looking at.
  useEffect(() => {
    if (big || positions === undefined) return
    const frame = requestAnimationFrame(() => void fitView({ ...FIT, duration: 300 }))
    return () => cancelAnimationFrame(frame)
  }, [positions, collapsed, fitView, big])

  // The box changes with the window, a rotated phone, or the side panel folding away: refit, or half
  // of the graph ends up out of sight. In the next frame, once React Flow has measured the new box.
  useEffect(() => {
    const element = container.current
    if (element === null) return
    let frame = 0
    const observer = new ResizeObserver(([entry]) => {
      if (entry !== undefined) setBox({ width: entry.contentRect.width, height: entry.contentRect.height })
      cancelAnimationFrame(frame)
      if (!big) frame = requestAnimationFrame(() => void fitView(FIT))
    })
    observer.observe(element)
    return () => {
      observer.disconnect()
      cancelAnimationFrame(frame)
    }
  }, [fitView, big])

  // React Flow leaves a node or an edge alone when it gets the same object again: one object per node
  // id (the card reads the node's record itself) and per edge record, each kept while what else it is
  // drawn from stays the same.
  const flowNodeFor = useBuiltPerKey<string, StepNodeType>(() => new Map())
  const boxNodeFor = useBuiltPerKey<string, GroupBoxNode>(() => new Map())
  const flowEdgeFor = useBuiltPerKey<EdgeView, Edge>(() => new WeakMap())
  // React Flow measures a card once and reports its size as a change; a node object without the size
  // would be hidden and measured again, its edges gone meanwhile. Kept here for the next object of the node
  // (one entry per node of this run: RunView is keyed by the run).
  const [measuredSizes] = useState(() => new Map<string, Dimensions>())
  const stableNodes = useStableArray<StepNodeType | GroupBoxNode>()
  const stableEdges = useStableArray<Edge>()
  // The first viewport of a big graph, fixed once: React Flow reads it when it mounts.
  const [firstViewport, setFirstViewport] = useState<Viewport | undefined>()
  // Set during the render that first has the box and a layout of these nodes (React's pattern for state
  // derived from props). Until then a big graph shows nothing rather than a view it would then leave.
  if (big && firstViewport === undefined && positions !== undefined && box !== undefined && nodes.every((node) => positions.has(node.id))) {
    setFirstViewport(openingViewport(nodes, positions, box))
  }
  const ready = positions !== undefined && (!big || firstViewport !== undefined)

  // Worked out again when the shape, the layout or the selection changed: never for a status.
  const allFlowNodes = useMemo(() => {
    const flowNodes: StepNodeType[] = []
    for (const view of nodes) {
      // A node added since the last layout waits for its place.
      const position = positions?.get(view.id)
      if (position === undefined) continue
      const isSelected = view.id === selected
      flowNodes.push(flowNodeFor(view.id, [position, isSelected, big], () => ({
        id: view.id,
        type: 'step',
        position,
        measured: measuredSizes.get(view.id) ?? (big ? CARD_SIZE : undefined),
        handles: big ? CARD_HANDLES : undefined,
        // Our selection, not React Flow's: it survives re-renders without an onNodesChange round trip.
        // No ariaLabel: it would name the status, which changes without a new object (the card names it).
        data: { selected: isSelected }
      })))
    }
    const boxNodes = boxes.map((box) => boxNodeFor(box.id, [box.x, box.y, box.width, box.height, box.label], () => boxNode(box)))
    return stableNodes(boxNodes.length === 0 ? flowNodes : [...boxNodes, ...flowNodes])
  }, [nodes, boxes, positions, selected, big, flowNodeFor, boxNodeFor, measuredSizes, stableNodes])
  // Past BIG_GRAPH an active edge is marked by its colour, not animated; paused or not live, nothing flows.
  const animate = !big && !runPaused && !stale
  const flowEdges = stableEdges(edges.flatMap((edge) => positions?.has(edge.from) === true && positions.has(edge.to)
    ? [flowEdgeFor(edge, [animate], () => ({
        id: `${edge.from}->${edge.to}`,
        source: edge.from,
        target: edge.to,
        animated: edge.active === true && animate,
        className: edge.active === true ? 'edge--active' : undefined,
        markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 }
      }))]
    : []))

  // A focused node selected with Enter or Space arrives here, not in onNodeClick.
  const onNodesChange = (changes: NodeChange<StepNodeType | GroupBoxNode>[]) => {
    for (const change of changes) {
      if (change.type === 'select' && change.selected) onSelect(change.id)
      if (change.type === 'dimensions' && change.dimensions !== undefined) measuredSizes.set(change.id, change.dimensions)
    }
  }

  const className = `graph${big ? ' graph--big' : ''}${big && far ? ' graph--far' : ''}${stale ? ' graph--stale' : ''}`
  return (
    <div className={className} data-testid='graph' data-layout={ready ? 'done' : 'pending'} data-stale={stale} ref={container}>
      {groups.length > 0 && (
        <div className='graph__groups' role='group' aria-label='Groups'>
          {groups.map((group) => (
            <button
              key={group.id}
              className='button button--small'
              data-testid={`group-toggle-${group.id}`}
              aria-pressed={!collapsed.has(group.id)}
              onClick={() => toggle(group.id)}
            >
              {collapsed.has(group.id) ? '▸' : '▾'} {group.label} ({group.size})
            </button>
          ))}
        </div>
      )}
      {ready
        ? (
          <ReactFlow<StepNodeType | GroupBoxNode>
            // A run that grows past BIG_GRAPH starts again with the opening view of a big graph.
            key={big ? 'big' : 'small'}
            nodes={allFlowNodes}
            edges={flowEdges}
            nodeTypes={nodeTypes}
            nodesDraggable={false}
            nodesConnectable={false}
            edgesFocusable={false}
            onlyRenderVisibleElements={big}
            fitView={!big}
            fitViewOptions={FIT}
            defaultViewport={firstViewport}
            minZoom={big ? 0.02 : 0.2}
            proOptions={{ hideAttribution: true }}
            onNodeClick={(_event, node) => {
              if (node.type === 'step') onSelect(node.id)
            }}
            onNodesChange={onNodesChange}
            onPaneClick={() => onSelect(undefined)}
            aria-label="The run's steps"
          >
            <Background gap={20} color='#e2e8f0' />
            <Controls showInteractive={false} aria-label='Zoom' />
          </ReactFlow>
          )
        : <p className='graph__pending' role='status'>Laying out {nodes.length.toLocaleString('en')} steps…</p>}
    </div>
  )
}

/** The box of a group, behind the cards. */
function boxNode (box: GroupBox): GroupBoxNode {
  return {
    id: `group:${box.id}`,
    type: 'groupBox',
    position: { x: box.x, y: box.y },
    width: box.width,
    height: box.height,
    style: { width: box.width, height: box.height },
    data: { label: box.label },
    zIndex: -1,
    selectable: false,
    focusable: false,
    draggable: false
  }
}

/**
 * Where a big graph opens: on the first step that works or waits (top to bottom), at a zoom where
 * cards can be read; the top of the graph when nothing runs.
 */
function openingViewport (nodes: readonly NodeView[], positions: Positions, box: { width: number; height: number }): Viewport {
  let focus: { x: number; y: number } | undefined
  let top = Number.POSITIVE_INFINITY
  let left = Number.POSITIVE_INFINITY
  let right = Number.NEGATIVE_INFINITY
  for (const node of nodes) {
    const position = positions.get(node.id)
    if (position === undefined) continue
    top = Math.min(top, position.y)
    left = Math.min(left, position.x)
    right = Math.max(right, position.x + NODE_WIDTH)
    if ((node.status === 'running' || node.status === 'waiting_human') && (focus === undefined || position.y < focus.y)) focus = position
  }
  const zoom = BIG_GRAPH_ZOOM
  if (focus === undefined) return { zoom, x: box.width / 2 - ((left + right) / 2) * zoom, y: 16 - top * zoom }
  return { zoom, x: box.width / 2 - (focus.x + NODE_WIDTH / 2) * zoom, y: box.height / 3 - (focus.y + NODE_HEIGHT / 2) * zoom }
}

interface KeyedCache<Key, Value> {
  get (key: Key): Value | undefined
  set (key: Key, value: Value): unknown
}

/**
 * Returns `build()`'s object for `key`, or the one built last time for the same key from the same
 * `inputs` (compared like a hook's dependencies). A cache, not state: filling it never calls for a render.
 * Keyed by a store record (a WeakMap), a record the store replaced or dropped takes its entry with it;
 * keyed by id (a Map), it holds one entry per node the run had (RunView is keyed by the run).
 */
function useBuiltPerKey<Key, Built> (createCache: () => KeyedCache<Key, { inputs: readonly unknown[]; built: Built }>) {
  // The same function at every render, so that a memo may depend on it.
  const [builtFor] = useState(() => {
    const cache = createCache()
    return (key: Key, inputs: readonly unknown[], build: () => Built): Built => {
      const cached = cache.get(key)
      if (cached !== undefined && cached.inputs.every((input, index) => Object.is(input, inputs[index]))) return cached.built
      const built = build()
      cache.set(key, { inputs, built })
      return built
    }
  })
  return builtFor
}

/**
 * The array given last time when it holds the same objects: React Flow then skips its passes over the
 * nodes and edges (thousands of them) for a render where nothing it draws from changed.
 */
function useStableArray<Item> () {
  // A cache like useBuiltPerKey's, of one entry, and the same function at every render.
  const [stable] = useState(() => {
    let last: Item[] | undefined
    return (items: Item[]): Item[] => {
      if (last?.length === items.length && items.every((item, index) => item === last?.[index])) return last
      last = items
      return items
    }
  })
  return stable
}
