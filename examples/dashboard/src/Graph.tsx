// The run's graph: laid out automatically, coloured by status, with animated edges where data flows.
import { Background, Controls, MarkerType, ReactFlow, ReactFlowProvider, useReactFlow, type Dimensions, type Edge, type NodeChange } from '@xyflow/react'
import '@xyflow/react/dist/style.css'
import { useEffect, useRef, useState } from 'react'
import type { EdgeView, NodeView } from '../../../lib/index.js'
import type { Positions } from './layout.js'
import { isHeld, nodeStatusLabel } from './status.js'
import { StepNode, type StepNodeType } from './StepNode.js'

const nodeTypes = { step: StepNode }
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

function FlowCanvas ({ nodes, edges, positions, selected, onSelect, runPaused }: GraphProps) {
  const { fitView } = useReactFlow()
  const container = useRef<HTMLDivElement>(null)

  // A node added mid-run can land outside the view: refit when the layout changes.
  useEffect(() => {
    const frame = requestAnimationFrame(() => void fitView({ ...FIT, duration: 300 }))
    return () => cancelAnimationFrame(frame)
  }, [positions, fitView])

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
  const onNodesChange = (changes: NodeChange<StepNodeType>[]) => {
    for (const change of changes) {
      if (change.type === 'select' && change.selected) onSelect(change.id)
      if (change.type === 'dimensions' && change.dimensions !== undefined) measuredSizes.set(change.id, change.dimensions)
    }
  }

  return (
    <div className='graph' data-testid='graph' ref={container}>
      <ReactFlow
        nodes={flowNodes}
        edges={flowEdges}
        nodeTypes={nodeTypes}
        nodesDraggable={false}
        nodesConnectable={false}
        edgesFocusable={false}
        fitView
        fitViewOptions={FIT}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
        onNodeClick={(_event, node) => onSelect(node.id)}
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
