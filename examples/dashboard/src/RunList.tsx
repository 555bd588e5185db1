// The runs of every instance (with --redis, several servers share them), live: useDAGList keeps the
// page current from the server's changes (a run created, paused, finished, evicted, a gate of it opened
// or decided), with no polling. And the button that starts another run on this instance.
import { useEffect, useState } from 'react'
import type { DAGSummary } from '../../../lib/index.js'
import { useDAGList } from '../../../lib/react/index.js'
import { startRun } from './api.js'
import { EXECUTION_STATUS_LABELS } from './status.js'
import { useAction } from './useAction.js'

/** The newest runs, by the time of their last status change. */
const RUNS_SHOWN = 50

interface RunListProps {
  selected: string | undefined
  /** Select the top run once the list arrives (a page opened without a run). */
  pickFirst: boolean
  onSelect: (dagId: string) => void
}

export function RunList ({ selected, pickFirst, onSelect }: RunListProps) {
  const { dags, status } = useDAGList({ limit: RUNS_SHOWN })
  const runs = useStablePlaces(dags)
  const { run, pending, error } = useAction()

  // Nothing selected yet: show the most recently active run that is still going (a cancelled or
  // finished one is no first screen), else the top one, rather than an empty page.
  const top = (runs.find((summary) => summary.status === 'running' || summary.status === 'paused') ?? runs[0])?.dag_id
  useEffect(() => {
    if (pickFirst && selected === undefined && top !== undefined) onSelect(top)
  }, [pickFirst, selected, top, onSelect])

  const create = () =>
    run(async () => {
      onSelect(await startRun())
    })

  return (
    <nav className='runs' aria-label='Runs list' data-testid='runs-nav' data-list-status={status}>
      <button className='button button--primary runs__new' data-testid='new-run' disabled={pending} onClick={() => void create()}>
        + New run
      </button>
      {error !== undefined && <p className='gate__error' role='alert'>{error}</p>}
      <ul className='runs__list' data-testid='runs'>
        {runs.map((summary) => (
          <li key={summary.dag_id}>
            <button
              className={`runs__item${summary.dag_id === selected ? ' runs__item--selected' : ''}`}
              data-testid='run-item'
              data-dag-id={summary.dag_id}
              data-status={summary.status}
              data-open-gates={summary.open_gates}
              aria-current={summary.dag_id === selected ? 'page' : undefined}
              title={summary.dag_id}
              onClick={() => onSelect(summary.dag_id)}
            >
              <span className='runs__id'>{summary.dag_id}</span>
              {summary.open_gates > 0 && summary.status === 'running'
                ? <span className='pill pill--small pill--waiting' data-testid='run-waiting'>Needs decision</span>
                : <span className={`pill pill--small pill--${summary.status}`}>{EXECUTION_STATUS_LABELS[summary.status]}</span>}
              <span className='runs__time'>{new Date(summary.updated_at).toLocaleTimeString()}</span>
            </button>
          </li>
        ))}
        {runs.length === 0 && status === 'open' && <li className='stat__muted runs__empty'>No runs yet.</li>}
      </ul>
    </nav>
  )
}

/**
 * The list is ordered by the time of each run's last change (its status, or a gate opened or decided),
 * so a run that pauses or waits for a human would jump to the top under the user's pointer. Runs
 * already shown keep their places (with fresh status and time); runs new to the list go on top, in the
 * server's order; runs the server no longer lists go.
 */
function useStablePlaces (latest: readonly DAGSummary[]): DAGSummary[] {
  const [places, setPlaces] = useState(() => ({ latest, shown: keepPlaces([], latest) }))
  if (places.latest === latest) return places.shown
  // A new list from the hook: the places are adjusted during this render (React's pattern for
  // state derived from the previous render), not in an effect that would paint the old order first.
  const next = { latest, shown: keepPlaces(places.shown, latest) }
  setPlaces(next)
  return next.shown
}

function keepPlaces (shown: DAGSummary[], latest: readonly DAGSummary[]): DAGSummary[] {
  const byId = new Map(latest.map((summary) => [summary.dag_id, summary]))
  const known = new Set(shown.map((summary) => summary.dag_id))
  const added = latest.filter((summary) => !known.has(summary.dag_id))
  const kept = shown.flatMap((summary) => byId.get(summary.dag_id) ?? [])
  return [...added, ...kept]
}
