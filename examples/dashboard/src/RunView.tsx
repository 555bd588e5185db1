// One run, live: its header (connection, progress, cost, controls), the graph, and the side panel
// (open gates, then the selected step or the run's summary). All of it comes from useDAGStream.
import { useEffect, useMemo, useState } from 'react'
import type { ExecutionStatus } from '../../../lib/index.js'
import { useDAGStream } from '../../../lib/react/index.js'
import { ConnectionBadge } from './ConnectionBadge.js'
import { CostTicker } from './CostTicker.js'
import { GatePanel } from './GatePanel.js'
import { Graph } from './Graph.js'
import { NodeDetails } from './NodeDetails.js'
import { Progress } from './Progress.js'
import { RunControls } from './RunControls.js'
import { RunSummary } from './RunSummary.js'

interface RunViewProps {
  dagId: string
  /** Told when the run's status changes, so the list of runs can show it without waiting for its poll. */
  onStatus: (status: ExecutionStatus) => void
}

export function RunView ({ dagId, onStatus }: RunViewProps) {
  const stream = useDAGStream(dagId)
  const { state } = stream
  useEffect(() => onStatus(state.status), [state.status, onStatus])
  // The view object changes exactly when the DAG did, so these lists are rebuilt once per change.
  const nodes = useMemo(() => [...state.nodes.values()], [state])
  const edges = useMemo(() => [...state.edges.values()], [state])
  const gates = useMemo(() => [...state.gates.values()], [state])
  const [selected, setSelected] = useState<string | undefined>()
  const selectedNode = selected === undefined ? undefined : state.nodes.get(selected)
  const connected = stream.status === 'open'
  const topic = (state.nodes.get('intake')?.output as { topic?: string } | undefined)?.topic

  return (
    <>
      <div className="runbar">
        <div className="runbar__title">
          <span className="runbar__id" data-testid="run-id">{dagId}</span>
          {topic !== undefined && <span className="runbar__topic">{topic}</span>}
          <span><ConnectionBadge status={stream.status} reconnectAt={stream.reconnect?.retryAt} /></span>
        </div>
        <Progress nodes={nodes} />
        <CostTicker cost={state.cost} />
        <div className="runbar__spacer" />
        <RunControls status={state.status} connected={connected} pause={stream.pause} resume={stream.resume} cancel={stream.cancel} />
      </div>
      <div className="runbody">
        <Graph nodes={nodes} edges={edges} selected={selected} onSelect={setSelected} />
        <aside className="side">
          {gates.map((gate) => (
            <GatePanel key={gate.node_id} gate={gate} connected={connected} decide={stream.decide} />
          ))}
          {selectedNode !== undefined ? (
            <NodeDetails node={selectedNode} onClose={() => setSelected(undefined)} />
          ) : (
            <RunSummary errors={state.errors} results={state.results} streamError={stream.error?.message} />
          )}
        </aside>
      </div>
    </>
  )
}
