// What one step did: its status, its metrics and its output, shown when the user clicks it.
import type { NodeView } from '../../../lib/index.js'
import { NODE_STATUS_COLORS, NODE_STATUS_LABELS, formatDollars } from './status.js'

export function NodeDetails ({ node, onClose }: { node: NodeView; onClose: () => void }) {
  const metrics = Object.entries(node.metrics ?? {})
  return (
    <section className="card" data-testid="node-details" data-node-id={node.id}>
      <header className="card__header card__header--row">
        <h2 className="card__title">{node.label ?? node.id}</h2>
        <button className="button button--ghost" aria-label="Close" onClick={onClose}>✕</button>
      </header>
      <dl className="facts">
        <dt>Id</dt><dd><code>{node.id}</code></dd>
        <dt>Status</dt><dd style={{ color: NODE_STATUS_COLORS[node.status] }}>{NODE_STATUS_LABELS[node.status]}</dd>
        {Object.entries(node.data ?? {}).map(([key, value]) => (
          <FactRow key={`data-${key}`} name={key} value={String(value)} />
        ))}
        {metrics.map(([key, value]) => (
          <FactRow key={`metric-${key}`} name={key} value={formatMetric(key, value)} />
        ))}
      </dl>
      <h3 className="card__subtitle">Output</h3>
      {node.output === undefined ? <p className="stat__muted">No output yet.</p> : <pre className="code" data-testid="node-output">{JSON.stringify(node.output, null, 2)}</pre>}
    </section>
  )
}

function FactRow ({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt>{name.replace(/_/g, ' ')}</dt>
      <dd>{value}</dd>
    </>
  )
}

function formatMetric (name: string, value: number | undefined): string {
  if (value === undefined) return '—'
  if (name === 'cost') return formatDollars(value)
  if (name === 'latency_ms') return `${(value / 1000).toFixed(2)} s`
  return value.toLocaleString('en-US')
}
