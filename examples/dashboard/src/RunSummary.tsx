// The side panel when no step is selected: how to read the graph, what went wrong, and the results.
import type { NodeStatus, ReportedError } from '../../../lib/index.js'
import { NODE_STATUS_COLORS, NODE_STATUS_LABELS } from './status.js'

interface RunSummaryProps {
  errors: readonly ReportedError[]
  results: unknown
  /** A problem with the stream itself (not with the run), e.g. a refused connection. */
  streamError: string | undefined
}

export function RunSummary ({ errors, results, streamError }: RunSummaryProps) {
  return (
    <>
      {streamError !== undefined && (
        <section className="card" role="alert" data-testid="stream-error">
          <h2 className="card__title">Stream problem</h2>
          <p className="hint">{streamError}</p>
        </section>
      )}
      {results !== undefined && (
        <section className="card" data-testid="run-results">
          <h2 className="card__title">Results</h2>
          <pre className="code">{JSON.stringify(results, null, 2)}</pre>
        </section>
      )}
      {errors.length > 0 && (
        <section className="card" data-testid="run-errors">
          <h2 className="card__title">Errors reported by the engine</h2>
          <ul className="errors">
            {errors.map((error, index) => (
              <li key={index}>{error.node_id !== undefined && <code>{error.node_id}: </code>}{error.message}</li>
            ))}
          </ul>
        </section>
      )}
      <section className="card">
        <h2 className="card__title">Legend</h2>
        <p className="hint">Click a step to see its output and metrics. Blue animated edges carry data right now.</p>
        <div className="legend" style={{ marginTop: 8 }}>
          {(Object.keys(NODE_STATUS_COLORS) as NodeStatus[]).map((status) => (
            <span className="legend__item" key={status}>
              <span className="legend__swatch" style={{ background: NODE_STATUS_COLORS[status] }} />
              {NODE_STATUS_LABELS[status]}
            </span>
          ))}
        </div>
      </section>
    </>
  )
}
