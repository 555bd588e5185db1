// What one step did: its status, its metrics and its output, shown when the user clicks it.
import { useEffect, useRef } from 'react'
import type { NodeView } from '../../../lib/index.js'
import { HELD_HINT, NODE_STATUS_TEXT_COLORS, formatDollars, isHeld, nodeStatusLabel } from './status.js'

export const NODE_DETAILS_ID = 'node-details'

interface NodeDetailsProps {
  node: NodeView
  runPaused: boolean
  onClose: () => void
}

export function NodeDetails ({ node, runPaused, onClose }: NodeDetailsProps) {
  const metrics = Object.entries(node.metrics ?? {})
  const label = node.label ?? node.id
  return (
    <section className='card' id={NODE_DETAILS_ID} data-testid='node-details' data-node-id={node.id} aria-labelledby='node-details-title'>
      <header className='card__header card__header--row'>
        <h2 className='card__title' id='node-details-title'>{label}</h2>
        <button className='button button--ghost' aria-label={`Close the details of ${label}`} onClick={onClose}>✕</button>
      </header>
      <dl className='facts'>
        <dt>Id</dt><dd><code>{node.id}</code></dd>
        <dt>Status</dt>
        <dd style={{ color: NODE_STATUS_TEXT_COLORS[node.status] }} data-testid='node-details-status'>
          {nodeStatusLabel(node.status, runPaused)}
          {isHeld(node.status, runPaused) && <span className='facts__note'>{HELD_HINT}</span>}
        </dd>
        {Object.entries(node.data ?? {}).map(([key, value]) => (
          <FactRow key={`data-${key}`} name={humanize(key)} value={String(value)} />
        ))}
        {metrics.map(([key, value]) => (
          <FactRow key={`metric-${key}`} {...formatMetric(key, value)} />
        ))}
      </dl>
      <h3 className='card__subtitle'>Output</h3>
      {node.output !== undefined
        // Focusable, so that a keyboard can scroll a long output.
        ? <pre className='code' tabIndex={0} aria-label={`Output of ${label}`} data-testid='node-output'>{JSON.stringify(node.output, null, 2)}</pre>
        : node.partial_output !== undefined
          ? <LiveOutput text={node.partial_output} label={label} generating={node.status === 'running'} />
          : <p className='stat__muted'>No output yet.</p>}
    </section>
  )
}

/** The text the step is generating, growing as it streams in, kept scrolled to its end. */
function LiveOutput ({ text, label, generating }: { text: string; label: string; generating: boolean }) {
  const box = useRef<HTMLPreElement>(null)
  useEffect(() => {
    const element = box.current
    if (element !== null) element.scrollTop = element.scrollHeight
  }, [text])
  return (
    <>
      {generating && <p className='stat__muted' data-testid='node-generating'>Generating…</p>}
      <pre ref={box} className='code code--live' tabIndex={0} aria-label={`Text ${label} is generating`} data-testid='node-partial-output'>{text}</pre>
    </>
  )
}

function FactRow ({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt data-testid='fact-name'>{name}</dt>
      <dd>{value}</dd>
    </>
  )
}

/** `duplicates_removed` → "Duplicates removed". */
function humanize (key: string): string {
  const words = key.replace(/_/g, ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** A metric's name and value for people: units go with the value, in the unit that reads best. */
function formatMetric (key: string, value: number | undefined): { name: string; value: string } {
  if (value === undefined) return { name: humanize(key), value: '—' }
  if (key === 'cost') return { name: 'Cost', value: formatDollars(value) }
  // Any duration the engine reports in milliseconds (latency_ms, queue_ms …) reads better in seconds.
  if (key.endsWith('_ms')) return { name: humanize(key.slice(0, -'_ms'.length)), value: `${(value / 1000).toFixed(2)} s` }
  return { name: humanize(key), value: value.toLocaleString('en-US') }
}
