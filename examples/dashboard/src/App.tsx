// The page: the list of runs on the left, the selected run on the right. The selection lives in the
// URL hash (#run-001-…), so a reload or a shared link shows the same run.
import { useCallback, useEffect, useState } from 'react'
import type { ExecutionStatus } from '../../../lib/index.js'
import { RunList } from './RunList.js'
import { RunView } from './RunView.js'

function runFromHash (): string | undefined {
  const id = decodeURIComponent(window.location.hash.slice(1))
  return id === '' ? undefined : id
}

export function App () {
  const [dagId, setDagId] = useState(runFromHash)
  const [status, setStatus] = useState<ExecutionStatus | undefined>()
  useEffect(() => {
    const onHashChange = () => setDagId(runFromHash())
    window.addEventListener('hashchange', onHashChange)
    return () => window.removeEventListener('hashchange', onHashChange)
  }, [])
  const select = useCallback((id: string) => {
    window.location.hash = encodeURIComponent(id)
    setDagId(id)
  }, [])

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="brand__logo" aria-hidden>◆</span>
          <span className="brand__name">DAG runs</span>
          <span className="brand__sub">fastify-dag-stream demo</span>
        </div>
        <nav className="topbar__links">
          <a className="topbar__link" href="documentation" target="_blank" rel="noreferrer">REST API (OpenAPI) ↗</a>
          <a className="topbar__link" href="asyncapi.json" target="_blank" rel="noreferrer">Stream protocol (AsyncAPI) ↗</a>
        </nav>
      </header>
      <aside className="sidebar">
        <RunList selected={dagId} selectedStatus={status} onSelect={select} />
      </aside>
      <main className="main">
        {/* A new key per run: the previous run's stream closes and nothing of its state leaks over. */}
        {dagId === undefined ? <p className="empty">Start a run to watch it execute.</p> : <RunView key={dagId} dagId={dagId} onStatus={setStatus} />}
      </main>
    </div>
  )
}
