// One step of the run as a card in the graph: what it is, its status, and what it cost so far.
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react'
import { memo, useLayoutEffect, useRef } from 'react'
import { useDAGNode, useDAGSelector } from '../../../lib/react/index.js'
import { useRunStream } from './run-stream.js'
import { HELD_HINT, HELD_LABEL, NODE_STATUS_COLORS, NODE_STATUS_LABELS, NODE_STATUS_TEXT_COLORS, formatDollars, isHeld } from './status.js'

export type StepNodeData = { selected: boolean }
export type StepNodeType = Node<StepNodeData, 'step'>

const KIND_ICONS: Record<string, string> = { llm: '✦', tool: '⚙', human: '☺' }

/**
 * The card follows its own node (useDAGNode): a status change redraws this card and nothing else, and
 * React Flow, whose node object for the card stays the same, does not go over the graph's thousands of
 * nodes for it. Drawn again from above only when its selection changed.
 */
export const StepNode = memo(StepCard, (before, after) => before.id === after.id && before.data.selected === after.data.selected)

function StepCard ({ id, data: { selected } }: NodeProps<StepNodeType>) {
  const { dagId, options } = useRunStream()
  const view = useDAGNode(dagId, id, options)
  // Only a step in flight looks different while the run is paused: a pause redraws those cards only.
  const held = useDAGSelector(dagId, (state) => isHeld(state.nodes.get(id)?.status ?? 'pending', state.status === 'paused'), options)
  const card = useRef<HTMLDivElement>(null)
  const label = view?.label ?? id
  const status = view === undefined ? '' : held ? HELD_LABEL : NODE_STATUS_LABELS[view.status]
  // React Flow names the card's focusable wrapper from the node object, which stays the same when the
  // status changes (see above): the card keeps the name current itself, for screen readers.
  useLayoutEffect(() => {
    card.current?.closest('.react-flow__node')?.setAttribute('aria-label', `${label}: ${status}`)
  }, [label, status])
  // A node removed from the run: the graph drops its card at its next render.
  if (view === undefined) return null
  const kind = typeof view.data?.kind === 'string' ? view.data.kind : 'tool'
  const model = typeof view.data?.model === 'string' ? view.data.model : undefined
  return (
    <div
      ref={card}
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
