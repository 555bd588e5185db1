// The page: the list of runs on the left, the selected run on the right. The selection lives in the
// URL hash (#run-001-…), so a reload or a shared link shows the same run. Below 1280 px the list is a
// drawer, opened from the top bar, so that the run gets the width.
import { useCallback, useEffect, useRef, useState } from 'react'
import { RunList } from './RunList.js'
import { RunView, SIDE_PANEL_ID, showSidePanel } from './RunView.js'

const RUNS_DRAWER_ID = 'runs-drawer'

function runFromHash (): string | undefined {
  const id = decodeURIComponent(window.location.hash.slice(1))
  return id === '' ? undefined : id
}

export function App () {
  const [dagId, setDagId] = useState(runFromHash)
  // Only a page opened without a run picks one by itself; a user who went back to the list chose none.
  const [pickFirst, setPickFirst] = useState(() => runFromHash() === undefined)
  const [drawerOpen, setDrawerOpen] = useState(false)
  const drawerButton = useRef<HTMLButtonElement>(null)
  useEffect(() => {
    const onHashChange = () => setDagId(runFromHash())
    window.addEventListener('hashchange', onHashChange)
    return () => window.removeEventListener('hashchange', onHashChange)
  }, [])
  const closeDrawer = useCallback(() => {
    setDrawerOpen(false)
    drawerButton.current?.focus({ preventScroll: true })
  }, [])
  useEffect(() => {
    if (!drawerOpen) return
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') closeDrawer()
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [drawerOpen, closeDrawer])

  const select = useCallback((id: string) => {
    window.location.hash = encodeURIComponent(id)
    setDagId(id)
    setPickFirst(false)
    setDrawerOpen(false)
  }, [])
  const showRuns = useCallback(() => {
    window.location.hash = ''
    setDagId(undefined)
    setPickFirst(false)
    setDrawerOpen(true)
  }, [])

  return (
    <div className={`app${drawerOpen ? ' app--drawer-open' : ''}`}>
      {/* The first Tab of the page: past the run list and the graph's cards, to the gates and details. */}
      {dagId !== undefined && (
        <a
          className='skip-link'
          href={`#${SIDE_PANEL_ID}`}
          data-testid='skip-to-panel'
          onClick={(event) => {
            event.preventDefault()
            showSidePanel()
          }}
        >
          Skip to decisions and details
        </a>
      )}
      <header className='topbar'>
        <button
          ref={drawerButton}
          className='topbar__menu'
          data-testid='runs-toggle'
          aria-expanded={drawerOpen}
          aria-controls={RUNS_DRAWER_ID}
          onClick={() => (drawerOpen ? closeDrawer() : setDrawerOpen(true))}
        >
          <span aria-hidden>☰</span> Runs
        </button>
        <div className='brand'>
          <span className='brand__logo' aria-hidden>◆</span>
          <span className='brand__name'>DAG runs</span>
          <span className='brand__sub'>fastify-dag-stream demo</span>
        </div>
        <nav className='topbar__links' aria-label='API documentation'>
          <a className='topbar__link' href='documentation' target='_blank' rel='noreferrer'>
            <span className='wide-only'>REST API (</span>OpenAPI<span className='wide-only'>)</span> ↗
          </a>
          <a className='topbar__link' href='asyncapi' target='_blank' rel='noreferrer'>
            <span className='wide-only'>Stream protocol (</span>AsyncAPI<span className='wide-only'>)</span> ↗
          </a>
        </nav>
      </header>
      <div className='backdrop' aria-hidden onClick={closeDrawer} />
      <aside className='sidebar' id={RUNS_DRAWER_ID} aria-label='Runs' data-testid='runs-drawer'>
        <RunList selected={dagId} pickFirst={pickFirst} onSelect={select} />
      </aside>
      <main className='main'>
        {/* A new key per run: the previous run's stream closes and nothing of its state leaks over. */}
        {dagId === undefined
          ? <p className='empty' data-testid='no-run'>Choose a run from the list, or start a new one.</p>
          : <RunView key={dagId} dagId={dagId} onShowRuns={showRuns} />}
      </main>
    </div>
  )
}
