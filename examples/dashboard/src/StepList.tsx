// The steps as a list, for phones: at 390 px the whole graph fits only as an overview too small to
// read, so the same steps are listed here in the graph's order, each one a button that opens its details.
// RunView renders it on phones only; a big run shows its first PAGE steps, and more on request.
import { useMemo, useState } from 'react'
import type { NodeView } from '../../../lib/index.js'
import type { Positions } from './layout.js'
import { NODE_STATUS_COLORS, NODE_STATUS_TEXT_COLORS, formatDollars, nodeStatusLabel } from './status.js'

const PAGE = 100

interface StepListProps {
  nodes: ReadonlyMap<string, NodeView>
  positions: Positions | undefined
  runPaused: boolean
  onSelect: (nodeId: string) => void
}

export function StepList ({ nodes, positions, runPaused, onSelect }: StepListProps) {
  const [shown, setShown] = useState(PAGE)
  // Top to bottom, left to right, as the graph shows them (a step added mid-run takes its place once
  // laid out). Sorted again only when the layout changes, not at every status change.
  const order = useMemo(() => {
    const place = (id: string) => positions?.get(id) ?? { x: 0, y: Number.POSITIVE_INFINITY }
    return [...(positions?.keys() ?? [])].sort((a, b) => place(a).y - place(b).y || place(a).x - place(b).x)
  }, [positions])
  const laidOut = new Set(order)
  const ids = [...order, ...[...nodes.keys()].filter((id) => !laidOut.has(id))].filter((id) => nodes.has(id))
  return (
    <section className='card phone-only' data-testid='step-list' aria-labelledby='step-list-title'>
      <h2 className='card__title' id='step-list-title'>Steps</h2>
      <ul className='step-list'>
        {ids.slice(0, shown).map((id) => {
          const node = nodes.get(id) as NodeView
          return (
            <li key={node.id}>
              <button className='step-list__item' data-testid='step-list-item' data-node-id={node.id} data-status={node.status} onClick={() => onSelect(node.id)}>
                <span className='legend__swatch' style={{ background: NODE_STATUS_COLORS[node.status] }} aria-hidden />
                <span className='step-list__label'>{node.label ?? node.id}</span>
                <span className='step-list__status' style={{ color: NODE_STATUS_TEXT_COLORS[node.status] }}>{nodeStatusLabel(node.status, runPaused)}</span>
                {node.metrics?.cost !== undefined && node.metrics.cost > 0 && <span className='step-list__cost'>{formatDollars(node.metrics.cost)}</span>}
              </button>
            </li>
          )
        })}
      </ul>
      {ids.length > shown && (
        <button className='button button--ghost button--small' data-testid='step-list-more' onClick={() => setShown(shown + PAGE)}>
          Show {Math.min(PAGE, ids.length - shown)} more of {ids.length.toLocaleString('en')}
        </button>
      )}
    </section>
  )
}
