// The runs of every instance (with --redis, several servers share them), and the button that starts
// another on this one.
import { useCallback, useEffect, useState } from 'react'
import type { DAGSummary, ExecutionStatus } from '../../../lib/index.js'
import { listRuns, startRun } from './api.js'
import { EXECUTION_STATUS_LABELS } from './status.js'
import { useAction } from './useAction.js'

/** The list is not streamed (only runs are): a light poll keeps it fresh enough. */
const REFRESH_MS = 2000

interface RunListProps {
  selected: string | undefined
  /** The selected run's live status: when it changes, the list refreshes at once. */
  selectedStatus: ExecutionStatus | undefined
  /** Select the top run once the list arrives (a page opened without a run). */
  pickFirst: boolean
  onSelect: (dagId: string) => void
}

export function RunList ({ selected, selectedStatus, pickFirst, onSelect }: RunListProps) {
  const [runs, setRuns] = useState<DAGSummary[]>([])
  const { run, pending, error } = useAction()

  const refresh = useCallback(async () => {
    const latest = await listRuns()
    setRuns((shown) => keepPlaces(shown, latest))
  }, [])
  useEffect(() => {
    // refresh() sets state only after its fetch resolves, never synchronously in this effect.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void refresh().catch(() => {})
    const timer = setInterval(() => void refresh().catch(() => {}), REFRESH_MS)
    return () => clearInterval(timer)
  }, [refresh, selectedStatus])

  // Nothing selected yet: show the top run (the most recently active) rather than an empty page.
  const top = runs[0]?.dag_id
  useEffect(() => {
    if (pickFirst && selected === undefined && top !== undefined) onSelect(top)
  }, [pickFirst, selected, top, onSelect])

  const create = () =>
    run(async () => {
      const dagId = await startRun()
      onSelect(dagId)
      await refresh()
    })

  return (
    <nav className='runs' aria-label='Runs list'>
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
              aria-current={summary.dag_id === selected ? 'page' : undefined}
              title={summary.dag_id}
              onClick={() => onSelect(summary.dag_id)}
            >
              <span className='runs__id'>{summary.dag_id}</span>
              <span className={`pill pill--small pill--${summary.status}`}>{EXECUTION_STATUS_LABELS[summary.status]}</span>
              <span className='runs__time'>{new Date(summary.updated_at).toLocaleTimeString()}</span>
            </button>
          </li>
        ))}
        {runs.length === 0 && <li className='stat__muted runs__empty'>No runs yet.</li>}
      </ul>
    </nav>
  )
}

/**
 * The server lists runs most recently updated first, so two running runs would swap places on every
 * poll, under the user's pointer. Runs already shown keep their places (with fresh status and time);
 * runs new to this page go on top, in the server's order; runs the server no longer lists go.
 */
function keepPlaces (shown: DAGSummary[], latest: DAGSummary[]): DAGSummary[] {
  const byId = new Map(latest.map((summary) => [summary.dag_id, summary]))
  const known = new Set(shown.map((summary) => summary.dag_id))
  const added = latest.filter((summary) => !known.has(summary.dag_id))
  const kept = shown.flatMap((summary) => byId.get(summary.dag_id) ?? [])
  return [...added, ...kept]
}
