// The steps as a list, for phones: at 390 px the whole graph fits only as an overview too small to
// read, so the same steps are listed here in the graph's order, each one a button that opens its details.
import type { NodeView } from '../../../lib/index.js'
import type { Positions } from './layout.js'
import { NODE_STATUS_COLORS, NODE_STATUS_TEXT_COLORS, formatDollars, nodeStatusLabel } from './status.js'

interface StepListProps {
  nodes: readonly NodeView[]
  positions: Positions
  runPaused: boolean
  onSelect: (nodeId: string) => void
}

export function StepList ({ nodes, positions, runPaused, onSelect }: StepListProps) {
  // Top to bottom, left to right, as the graph shows them (a step added mid-run takes its place).
  const place = (node: NodeView) => positions.get(node.id) ?? { x: 0, y: 0 }
  const ordered = [...nodes].sort((a, b) => place(a).y - place(b).y || place(a).x - place(b).x)
  return (
    <section className='card phone-only' data-testid='step-list' aria-labelledby='step-list-title'>
      <h2 className='card__title' id='step-list-title'>Steps</h2>
      <ul className='step-list'>
        {ordered.map((node) => (
          <li key={node.id}>
            <button className='step-list__item' data-testid='step-list-item' data-node-id={node.id} onClick={() => onSelect(node.id)}>
              <span className='legend__swatch' style={{ background: NODE_STATUS_COLORS[node.status] }} aria-hidden />
              <span className='step-list__label'>{node.label ?? node.id}</span>
              <span className='step-list__status' style={{ color: NODE_STATUS_TEXT_COLORS[node.status] }}>{nodeStatusLabel(node.status, runPaused)}</span>
              {node.metrics?.cost !== undefined && node.metrics.cost > 0 && <span className='step-list__cost'>{formatDollars(node.metrics.cost)}</span>}
            </button>
          </li>
        ))}
      </ul>
    </section>
  )
}
