// One step of the run as a card in the graph: what it is, its status, and what it cost so far.
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react'
import type { NodeView } from '../../../lib/index.js'
import { NODE_STATUS_COLORS, NODE_STATUS_LABELS, formatDollars } from './status.js'

export type StepNodeData = { view: NodeView; selected: boolean }
export type StepNodeType = Node<StepNodeData, 'step'>

const KIND_ICONS: Record<string, string> = { llm: '✦', tool: '⚙', human: '☺' }

export function StepNode ({ data }: NodeProps<StepNodeType>) {
  const { view, selected } = data
  const kind = typeof view.data?.kind === 'string' ? view.data.kind : 'tool'
  const model = typeof view.data?.model === 'string' ? view.data.model : undefined
  const color = NODE_STATUS_COLORS[view.status]
  return (
    <div
      className={`step step--${view.status}${selected ? ' step--selected' : ''}`}
      style={{ borderColor: color }}
      data-testid={`node-${view.id}`}
      data-status={view.status}
    >
      <Handle type="target" position={Position.Top} />
      <div className="step__head">
        <span className="step__icon" style={{ background: color }} aria-hidden>{KIND_ICONS[kind] ?? '•'}</span>
        <span className="step__label" title={view.id}>{view.label ?? view.id}</span>
      </div>
      <div className="step__meta">
        <span className="step__status" style={{ color }}>{NODE_STATUS_LABELS[view.status]}</span>
        {model !== undefined && <span className="step__model">{model}</span>}
        {view.metrics?.cost !== undefined && view.metrics.cost > 0 && <span className="step__cost">{formatDollars(view.metrics.cost)}</span>}
      </div>
      <Handle type="source" position={Position.Bottom} />
    </div>
  )
}
