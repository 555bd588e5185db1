// The run's graph: laid out automatically, coloured by status, with animated edges where data flows.
import { Background, Controls, MarkerType, ReactFlow, ReactFlowProvider, useReactFlow, type Edge } from '@xyflow/react'
import '@xyflow/react/dist/style.css'
import { useEffect, useMemo } from 'react'
import type { EdgeView, NodeView } from '../../../lib/index.js'
import { layoutGraph, structureKey } from './layout.js'
import { StepNode, type StepNodeType } from './StepNode.js'

const nodeTypes = { step: StepNode }

interface GraphProps {
  nodes: readonly NodeView[]
  edges: readonly EdgeView[]
  selected: string | undefined
  onSelect: (nodeId: string | undefined) => void
}

export function Graph (props: GraphProps) {
  return (
    <ReactFlowProvider>
      <FlowCanvas {...props} />
    </ReactFlowProvider>
  )
}

function FlowCanvas ({ nodes, edges, selected, onSelect }: GraphProps) {
  const key = structureKey(nodes, edges)
  // Layout only when the structure changes: status updates must not move anything.
  const positions = useMemo(() => layoutGraph(nodes, edges), [key])
  const { fitView } = useReactFlow()

  // A node added mid-run can land outside the view: refit when the structure changes.
  useEffect(() => {
    const frame = requestAnimationFrame(() => void fitView({ padding: 0.08, duration: 300 }))
    return () => cancelAnimationFrame(frame)
  }, [key, fitView])

  const flowNodes: StepNodeType[] = nodes.map((view) => ({
    id: view.id,
    type: 'step',
    position: positions.get(view.id) ?? { x: 0, y: 0 },
    // Our selection, not React Flow's: it survives re-renders without an onNodesChange round trip.
    data: { view, selected: view.id === selected }
  }))
  const flowEdges: Edge[] = edges.map((edge) => ({
    id: `${edge.from}->${edge.to}`,
    source: edge.from,
    target: edge.to,
    animated: edge.active === true,
    className: edge.active === true ? 'edge--active' : undefined,
    markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 }
  }))

  return (
    <div className="graph" data-testid="graph">
      <ReactFlow
        nodes={flowNodes}
        edges={flowEdges}
        nodeTypes={nodeTypes}
        nodesDraggable={false}
        nodesConnectable={false}
        fitView
        fitViewOptions={{ padding: 0.08 }}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
        onNodeClick={(_event, node) => onSelect(node.id)}
        onPaneClick={() => onSelect(undefined)}
      >
        <Background gap={20} color="#e2e8f0" />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  )
}
