// The run's graph: laid out automatically, coloured by status, with animated edges where data flows.
// Groups (subgraphs: nodes with a `parent`) get a box around their members and can be collapsed.
import { Background, Controls, MarkerType, ReactFlow, ReactFlowProvider, useReactFlow, type Dimensions, type Edge, type Node, type NodeChange, type NodeProps } from '@xyflow/react'
import '@xyflow/react/dist/style.css'
import { useEffect, useMemo, useRef, useState } from 'react'
import type { EdgeView, NodeView } from '../../../lib/index.js'
import { groupGraph, type GroupBox } from './groups.js'
import type { Positions } from './layout.js'
import { isHeld, nodeStatusLabel } from './status.js'
import { StepNode, type StepNodeType } from './StepNode.js'

type GroupBoxNode = Node<{ label: string }, 'groupBox'>

/** The box behind a group's members: drawn, never selected. */
function GroupBoxView ({ data }: NodeProps<GroupBoxNode>) {
  return <div className='group-box' data-testid='group-box'><span className='group-box__label'>{data.label}</span></div>
}

const nodeTypes = { step: StepNode, groupBox: GroupBoxView }
const FIT = { padding: 0.06 }
const ORIGIN = { x: 0, y: 0 }

interface GraphProps {
  nodes: readonly NodeView[]
  edges: readonly EdgeView[]
  /** From useLayout: a new map only when the structure changes. */
  positions: Positions
  selected: string | undefined
  onSelect: (nodeId: string | undefined) => void
  /** Steps in flight while the run is paused are on hold, not working. */
  runPaused: boolean
}

export function Graph (props: GraphProps) {
  return (
    <ReactFlowProvider>
      <FlowCanvas {...props} />
    </ReactFlowProvider>
  )
}

function FlowCanvas ({ nodes: allNodes, edges: allEdges, positions, selected, onSelect, runPaused }: GraphProps) {
  const { fitView } = useReactFlow()
  const container = useRef<HTMLDivElement>(null)
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set())
  const { nodes, edges, boxes, groups } = useMemo(() => groupGraph(allNodes, allEdges, positions, collapsed), [allNodes, allEdges, positions, collapsed])
  const toggle = (groupId: string) => setCollapsed((previous) => {
    const next = new Set(previous)
    if (!next.delete(groupId)) next.add(groupId)
    return next
  })

  // A node added mid-run can land outside the view: refit when the layout changes (or a group folds).
  useEffect(() => {
    const frame = requestAnimationFrame(() => void fitView({ ...FIT, duration: 300 }))
    return () => cancelAnimationFrame(frame)
  }, [positions, collapsed, fitView])

  // The box changes with the window, a rotated phone, or the side panel folding away: refit, or half
  // of the graph ends up out of sight. In the next frame, once React Flow has measured the new box.
  useEffect(() => {
    const element = container.current
    if (element === null) return
    let frame = 0
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(() => void fitView(FIT))
    })
    observer.observe(element)
    return () => {
      observer.disconnect()
      cancelAnimationFrame(frame)
    }
  }, [fitView])

  // React Flow leaves a node or an edge alone when it gets the same object again: one object per record
  // and what else it is drawn from, so a change redraws only the cards and edges whose records changed.
  const flowNodeFor = useBuiltPerRecord<NodeView, StepNodeType>()
  const flowEdgeFor = useBuiltPerRecord<EdgeView, Edge>()
  // React Flow measures a card once and reports its size as a change; a node object without the size
  // would be hidden and measured again, its edges gone meanwhile. Kept here for the next object of the node
  // (one entry per node of this run: RunView is keyed by the run).
  const [measuredSizes] = useState(() => new Map<string, Dimensions>())

  const flowNodes = nodes.map((view) => {
    const position = positions.get(view.id) ?? ORIGIN
    const isSelected = view.id === selected
    // Only a step in flight looks different while the run is paused: the others stay as they are.
    const held = isHeld(view.status, runPaused)
    return flowNodeFor(view, [position, isSelected, held], () => ({
      id: view.id,
      type: 'step',
      position,
      measured: measuredSizes.get(view.id),
      // Our selection, not React Flow's: it survives re-renders without an onNodesChange round trip.
      data: { view, selected: isSelected, held },
      ariaLabel: `${view.label ?? view.id}: ${nodeStatusLabel(view.status, runPaused)}`
    }))
  })
  const flowEdges = edges.map((edge) => flowEdgeFor(edge, [runPaused], () => ({
    id: `${edge.from}->${edge.to}`,
    source: edge.from,
    target: edge.to,
    // Paused, nothing flows: the edge stays marked, but still.
    animated: edge.active === true && !runPaused,
    className: edge.active === true ? 'edge--active' : undefined,
    markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 }
  })))

  // A focused node selected with Enter or Space arrives here, not in onNodeClick.
  const onNodesChange = (changes: NodeChange<StepNodeType | GroupBoxNode>[]) => {
    for (const change of changes) {
      if (change.type === 'select' && change.selected) onSelect(change.id)
      if (change.type === 'dimensions' && change.dimensions !== undefined) measuredSizes.set(change.id, change.dimensions)
    }
  }

  return (
    <div className='graph' data-testid='graph' ref={container}>
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
      <ReactFlow<StepNodeType | GroupBoxNode>
        nodes={[...boxes.map(boxNode), ...flowNodes]}
        edges={flowEdges}
        nodeTypes={nodeTypes}
        nodesDraggable={false}
        nodesConnectable={false}
        edgesFocusable={false}
        fitView
        fitViewOptions={FIT}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
        onNodeClick={(_event, node) => {
          if (node.type === 'step') onSelect(node.id)
        }}
        onNodesChange={onNodesChange}
        onPaneClick={() => onSelect(undefined)}
        aria-label="The run's steps"
      >
        <Background gap={20} color='#e2e8f0' />
        <Controls showInteractive={false} />
      </ReactFlow>
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
 * Returns `build()`'s object for `record`, or the one built last time for the same record from the same
 * `inputs` (compared like a hook's dependencies). A cache, not state: filling it never calls for a render,
 * and a record the store replaced or dropped takes its entry with it.
 */
function useBuiltPerRecord<StoreRecord extends object, Built> () {
  const [cache] = useState(() => new WeakMap<StoreRecord, { inputs: readonly unknown[]; built: Built }>())
  return (record: StoreRecord, inputs: readonly unknown[], build: () => Built): Built => {
    const cached = cache.get(record)
    if (cached !== undefined && cached.inputs.every((input, index) => Object.is(input, inputs[index]))) return cached.built
    const built = build()
    cache.set(record, { inputs, built })
    return built
  }
}
