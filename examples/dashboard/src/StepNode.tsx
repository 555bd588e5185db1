// One step of the run as a card in the graph: what it is, its status, and what it cost so far.
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react'
import { memo } from 'react'
import type { NodeView } from '../../../lib/index.js'
import { HELD_HINT, HELD_LABEL, NODE_STATUS_COLORS, NODE_STATUS_LABELS, NODE_STATUS_TEXT_COLORS, formatDollars } from './status.js'

/** `held` (isHeld), not the run's pause: pausing redraws only the cards of the steps in flight. */
export type StepNodeData = { view: NodeView; selected: boolean; held: boolean }
export type StepNodeType = Node<StepNodeData, 'step'>

const KIND_ICONS: Record<string, string> = { llm: '✦', tool: '⚙', human: '☺' }

/**
 * Drawn again only when its record, its selection or its hold changed: the client store replaces the
 * record of a node that changed and keeps the others, so a burst of events for one node (its text
 * streaming in) leaves every other card alone. Graph.tsx also reuses each node's object, so React Flow
 * does not even get that far for the other cards; this comparison covers new objects for old records
 * (a relayout when a node is added moves cards without changing them).
 */
export const StepNode = memo(StepCard, (before, after) =>
  before.data.view === after.data.view && before.data.selected === after.data.selected && before.data.held === after.data.held
)

function StepCard ({ data }: NodeProps<StepNodeType>) {
  const { view, selected, held } = data
  const kind = typeof view.data?.kind === 'string' ? view.data.kind : 'tool'
  const model = typeof view.data?.model === 'string' ? view.data.model : undefined
  const label = view.label ?? view.id
  const status = held ? HELD_LABEL : NODE_STATUS_LABELS[view.status]
  return (
    <div
      className={`step step--${view.status}${held ? ' step--held' : ''}${selected ? ' step--selected' : ''}`}
      style={{ borderColor: NODE_STATUS_COLORS[view.status] }}
      data-testid={`node-${view.id}`}
      data-status={view.status}
      data-held={held}
      // Labels and model names may be cut short to fit the card: the tooltip has them whole.
      title={`${label} (${view.id}): ${status}${model === undefined ? '' : `, ${model}`}${held ? `. ${HELD_HINT}` : ''}`}
    >
      <Handle type='target' position={Position.Top} />
      <div className='step__head'>
        <span className='step__icon' style={{ background: NODE_STATUS_COLORS[view.status] }} aria-hidden>{KIND_ICONS[kind] ?? '•'}</span>
        <span className='step__label'>{label}</span>
      </div>
      <div className='step__meta'>
        <span className='step__status' style={{ color: NODE_STATUS_TEXT_COLORS[view.status] }}>{status}</span>
        {model !== undefined && <span className='step__model'>{model}</span>}
        {view.metrics?.cost !== undefined && view.metrics.cost > 0 && <span className='step__cost'>{formatDollars(view.metrics.cost)}</span>}
      </div>
      <Handle type='source' position={Position.Bottom} />
    </div>
  )
}
