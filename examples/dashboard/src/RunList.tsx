// The runs this server holds, newest first, and the button that starts another.
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
  onSelect: (dagId: string) => void
}

export function RunList ({ selected, selectedStatus, onSelect }: RunListProps) {
  const [runs, setRuns] = useState<DAGSummary[]>([])
  const { run, pending, error } = useAction()

  const refresh = useCallback(async () => setRuns(await listRuns()), [])
  useEffect(() => {
    void refresh().catch(() => {})
    const timer = setInterval(() => void refresh().catch(() => {}), REFRESH_MS)
    return () => clearInterval(timer)
  }, [refresh, selectedStatus])

  // Nothing selected yet: show the newest run rather than an empty page.
  const newest = runs[0]?.dag_id
  useEffect(() => {
    if (selected === undefined && newest !== undefined) onSelect(newest)
  }, [selected, newest, onSelect])

  const create = () =>
    run(async () => {
      const dagId = await startRun()
      onSelect(dagId)
      await refresh()
    })

  return (
    <nav className="runs" aria-label="Runs">
      <button className="button button--primary runs__new" data-testid="new-run" disabled={pending} onClick={() => void create()}>
        + New run
      </button>
      {error !== undefined && <p className="gate__error" role="alert">{error}</p>}
      <ul className="runs__list" data-testid="runs">
        {runs.map((summary) => (
          <li key={summary.dag_id}>
            <button
              className={`runs__item${summary.dag_id === selected ? ' runs__item--selected' : ''}`}
              data-testid="run-item"
              data-dag-id={summary.dag_id}
              onClick={() => onSelect(summary.dag_id)}
            >
              <span className="runs__id">{summary.dag_id}</span>
              <span className={`pill pill--small pill--${summary.status}`}>{EXECUTION_STATUS_LABELS[summary.status]}</span>
              <span className="runs__time">{new Date(summary.updated_at).toLocaleTimeString()}</span>
            </button>
          </li>
        ))}
        {runs.length === 0 && <li className="stat__muted runs__empty">No runs yet.</li>}
      </ul>
    </nav>
  )
}
