// The side panel when no step is selected: how to read the graph, what went wrong, and the results.
import type { NodeStatus, NodeView, ReportedError } from '../../../lib/index.js'
import { NODE_STATUS_COLORS, NODE_STATUS_LABELS } from './status.js'

interface RunSummaryProps {
  errors: readonly ReportedError[]
  nodes: ReadonlyMap<string, NodeView>
  results: unknown
  /** A problem with the stream itself (not with the run), e.g. a refused connection. */
  streamError: string | undefined
}

/**
 * What became of the step an error was reported for. The engine reports each failed attempt; when
 * it retries and the step then succeeds, the error is history, not a problem of the run.
 */
type Outcome = 'resolved' | 'retrying' | 'open'

function outcomeOf (error: ReportedError, nodes: ReadonlyMap<string, NodeView>): Outcome {
  const status = error.node_id === undefined ? undefined : nodes.get(error.node_id)?.status
  if (status === 'completed') return 'resolved'
  if (status === 'queued' || status === 'running') return 'retrying'
  return 'open'
}

const OUTCOME_NOTES: Record<Outcome, string> = {
  resolved: 'resolved: retried, then succeeded',
  retrying: 'retrying…',
  open: ''
}

export function RunSummary ({ errors, nodes, results, streamError }: RunSummaryProps) {
  const reported = errors.map((error) => ({ error, outcome: outcomeOf(error, nodes) }))
  const allResolved = reported.every(({ outcome }) => outcome === 'resolved')
  return (
    <>
      {streamError !== undefined && (
        <section className='card' role='alert' data-testid='stream-error'>
          <h2 className='card__title'>Stream problem</h2>
          <p className='hint'>{streamError}</p>
        </section>
      )}
      {results !== undefined && (
        <section className='card' data-testid='run-results'>
          <h2 className='card__title'>Results</h2>
          <pre className='code' tabIndex={0} aria-label='Results'>{JSON.stringify(results, null, 2)}</pre>
        </section>
      )}
      {reported.length > 0 && (
        <section className={`card${allResolved ? '' : ' card--danger'}`} data-testid='run-errors'>
          <h2 className='card__title'>{allResolved ? 'Errors the run recovered from' : 'Errors reported by the engine'}</h2>
          <ul className='errors'>
            {reported.map(({ error, outcome }, index) => (
              <li key={index} className={`errors__item errors__item--${outcome}`} data-testid='run-error' data-outcome={outcome}>
                <span className='errors__mark' aria-hidden>{outcome === 'resolved' ? '✓' : '!'}</span>
                <span>
                  {error.node_id !== undefined && <code>{error.node_id}: </code>}
                  {error.message}
                  {outcome !== 'open' && <span className='errors__note'> ({OUTCOME_NOTES[outcome]})</span>}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section className='card'>
        <h2 className='card__title'>Legend</h2>
        <p className='hint'>Select a step (click it, or Tab to it and press Enter) to see its output and metrics. Blue edges carry data right now.</p>
        <div className='legend'>
          {(Object.keys(NODE_STATUS_COLORS) as NodeStatus[]).map((status) => (
            <span className='legend__item' key={status}>
              <span className='legend__swatch' style={{ background: NODE_STATUS_COLORS[status] }} />
              {NODE_STATUS_LABELS[status]}
            </span>
          ))}
          <span className='legend__item'><span className='legend__swatch legend__swatch--held' />On hold (run paused)</span>
        </div>
      </section>
    </>
  )
}
