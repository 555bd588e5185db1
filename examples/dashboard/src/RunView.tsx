// One run, live: its header (connection, progress, cost, controls), the graph, and the side panel
// (open gates, then the selected step or the run's summary). All of it comes from useDAGStream.
import { useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react'
import type { Decision } from '../../../lib/index.js'
import { useDAGStream } from '../../../lib/react/index.js'
import { ConnectionBadge } from './ConnectionBadge.js'
import { CostTicker } from './CostTicker.js'
import { DecisionNotices } from './DecisionNotices.js'
import { useDecisionNotices } from './decisions.js'
import { feedbackFieldId, GatePanel } from './GatePanel.js'
import { Graph } from './Graph.js'
import { useLayout } from './layout.js'
import { NODE_DETAILS_ID, NodeDetails } from './NodeDetails.js'
import { Progress } from './Progress.js'
import { RunControls } from './RunControls.js'
import { RunStreamContext } from './run-stream.js'
import { RunSummary } from './RunSummary.js'
import { StepList } from './StepList.js'
import { viewerParams } from './viewer.js'
import { Viewers } from './Viewers.js'

interface RunViewProps {
  dagId: string
  /** Back to the list of runs (on a narrow screen, it is a drawer). */
  onShowRuns: () => void
}

export const SIDE_PANEL_ID = 'run-side-panel'
/** The skip link's target: the side panel, opened if folded, and focused. */
export function showSidePanel (): void {
  window.dispatchEvent(new Event(SHOW_PANEL_EVENT))
}
const SHOW_PANEL_EVENT = 'dashboard:show-side-panel'
const STREAM_OPTIONS = {
  // WebSocket first, Server-Sent Events where a proxy breaks WebSockets; `?transport=sse` forces the
  // fallback, to try it (and for the browser test).
  transport: new URLSearchParams(location.search).get('transport') === 'sse' ? 'sse' : 'auto',
  // Who is watching: the server's `identify` reads the viewer's name from the stream's query.
  streamParams: viewerParams,
  // Steps stream their text several times a second each, and a big run changes a thousand times a
  // second: one render per 50 ms is enough to read it, and keeps a change on screen within a tenth of
  // a second (bench/dashboard.ts). The interval counts from the end of a render, so a slow one coalesces.
  throttleMs: 50
} as const
/**
 * A run this big takes tens of milliseconds per render (React Flow goes over every node and edge):
 * rendering less often leaves the page time to draw, and a change still shows within a quarter second.
 */
const HUGE_RUN = 2000
const HUGE_RUN_OPTIONS = { ...STREAM_OPTIONS, throttleMs: 150 }
/** Where styles.css turns the page into one scrolling column. */
const PHONE_QUERY = '(max-width: 700px)'

export function RunView ({ dagId, onShowRuns }: RunViewProps) {
  const [huge, setHuge] = useState(false)
  const streamOptions = huge ? HUGE_RUN_OPTIONS : STREAM_OPTIONS
  const stream = useDAGStream(dagId, streamOptions)
  // The graph's cards follow their own nodes, on the same client and at the same pace.
  const runStream = useMemo(() => ({ dagId, options: streamOptions }), [dagId, streamOptions])
  // Set during render when the run crosses the size (React's pattern for state derived from props).
  if ((stream.state.nodes.size >= HUGE_RUN) !== huge) setHuge(!huge)
  const { state, existence } = stream
  const exists = existence !== 'not_found'
  // Progress and cost of a state that has not arrived would read "0 / 0 steps".
  const loaded = existence === 'found'
  // The graph is drawn from the shape (its cards follow their own nodes): a new list only when a node
  // or an edge came or went, not at every status.
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `structure` counts the changes of shape
  const graphNodes = useMemo(() => [...state.nodes.values()], [state.nodes, state.structure])
  // The view object changes exactly when the DAG did, so these lists are rebuilt once per change.
  const edges = useMemo(() => [...state.edges.values()], [state])
  const gates = useMemo(() => [...state.gates.values()], [state])
  // Status updates must not move anything: laid out in a worker, when the structure changes.
  const positions = useLayout(graphNodes, edges)
  const phone = useMediaQuery(PHONE_QUERY)
  const behindMs = useLag(stream.on, state)
  const firstGate = gates[0]
  const [selected, setSelected] = useState<string | undefined>()
  // Folded away, the side panel gives the graph the whole width (a laptop screen).
  const [panelOpen, setPanelOpen] = useState(true)
  const { decide, notices, dismiss } = useDecisionNotices(stream)
  // This tab's decision, once the server took it: said in the panel, and focus goes there (the
  // gate's buttons are gone, and focus would otherwise fall to the page's body).
  const [confirmed, setConfirmed] = useState<{ nodeId: string; decision: Decision } | undefined>()
  const confirmation = useRef<HTMLParagraphElement>(null)
  const decideHere = async (nodeId: string, decision: Decision, feedback?: string) => {
    if (await decide(nodeId, decision, feedback)) setConfirmed({ nodeId, decision })
  }
  // Shown once the gate has closed (its panel gone), and focused then.
  const confirming = confirmed !== undefined && !gates.some((gate) => gate.node_id === confirmed.nodeId)
  useEffect(() => {
    if (confirming) confirmation.current?.focus()
  }, [confirming, confirmed])
  useEffect(() => {
    const onShow = () => {
      setPanelOpen(true)
      requestAnimationFrame(() => document.getElementById(SIDE_PANEL_ID)?.focus())
    }
    window.addEventListener(SHOW_PANEL_EVENT, onShow)
    return () => window.removeEventListener(SHOW_PANEL_EVENT, onShow)
  }, [])
  const selectedNode = selected === undefined ? undefined : state.nodes.get(selected)
  const connected = stream.status === 'open'
  // What the graph shows is not the run as it is now: greyed and still, until the stream catches up.
  const stale = exists && (!connected || behindMs !== undefined)
  const runPaused = state.status === 'paused'
  const topic = (state.nodes.get('intake')?.output as { topic?: string } | undefined)?.topic

  // On a phone the details open below the graph, out of sight: bring them to the user.
  useEffect(() => {
    if (selected === undefined || !window.matchMedia(PHONE_QUERY).matches) return
    document.getElementById(NODE_DETAILS_ID)?.scrollIntoView({ block: 'start' })
  }, [selected])

  // The gate may be out of sight (below the graph on a phone, in a folded panel): bring its form to the user.
  const jumpToGate = (gateId: string) => {
    setPanelOpen(true)
    requestAnimationFrame(() => {
      const field = document.getElementById(feedbackFieldId(gateId))
      field?.scrollIntoView({ block: 'center' })
      field?.focus({ preventScroll: true })
    })
  }

  return (
    <>
      {/* With the panel open, the gate is in sight beside the graph (on a phone it is below: see styles.css). */}
      <div className={`runbar${panelOpen ? ' runbar--panel-open' : ''}`}>
        <div className='runbar__title'>
          <h1 className='runbar__id' data-testid='run-id' title={dagId}>{dagId}</h1>
          {topic !== undefined && <span className='runbar__topic' title={topic}>{topic}</span>}
          <span><ConnectionBadge status={stream.status} existence={existence} retryAt={stream.reconnect?.retryAt} behindMs={behindMs} /></span>
          <Viewers presence={stream.presence} />
        </div>
        {loaded && <Progress nodes={state.nodes} runPaused={runPaused} />}
        {loaded && <CostTicker cost={state.cost} />}
        <div className='runbar__spacer' />
        <div className='runbar__actions'>
          {firstGate !== undefined && (
            <button className='button button--attention gate-jump' data-testid='jump-to-gate' onClick={() => jumpToGate(firstGate.gate_id)}>
              ⚑ Decision needed
            </button>
          )}
          <RunControls
            waitingGates={gates.length}
            status={state.status}
            existence={existence}
            connected={connected}
            pause={stream.pause}
            resume={stream.resume}
            cancel={stream.cancel}
          />
        </div>
      </div>
      <DecisionNotices notices={notices} nodes={state.nodes} onDismiss={dismiss} />
      {exists
        ? (
          <div className={`runbody${panelOpen ? '' : ' runbody--folded'}`}>
            <RunStreamContext.Provider value={runStream}>
              <Graph nodes={graphNodes} edges={edges} positions={positions} selected={selected} onSelect={setSelected} runPaused={runPaused} stale={stale} />
            </RunStreamContext.Provider>
            {!panelOpen && (
              <button className='button panel-toggle panel-toggle--show' data-testid='panel-show' aria-expanded={false} aria-controls={SIDE_PANEL_ID} onClick={() => setPanelOpen(true)}>
                ⇤ Show panel
              </button>
            )}
            <aside className='side' id={SIDE_PANEL_ID} aria-label='Run details' data-testid='side-panel' tabIndex={-1}>
              <div className='side__bar'>
                <button className='button button--ghost button--small panel-toggle' data-testid='panel-hide' aria-expanded aria-controls={SIDE_PANEL_ID} onClick={() => setPanelOpen(false)}>
                  Hide panel ⇥
                </button>
              </div>
              {confirming && (
                <p className='card gate-confirmation' role='status' tabIndex={-1} ref={confirmation} data-testid='decision-confirmation' data-node-id={confirmed.nodeId}>
                  {`You ${DECIDED[confirmed.decision]} “${state.nodes.get(confirmed.nodeId)?.label ?? confirmed.nodeId}”. `}
                  <button className='button button--ghost button--small' onClick={() => setConfirmed(undefined)}>OK</button>
                </p>
              )}
              {gates.map((gate) => (
                <GatePanel
                  key={gate.gate_id}
                  gate={gate}
                  connected={connected}
                  decide={decideHere}
                  viewGate={stream.viewGate}
                  reviewers={(stream.presence.gates.get(gate.node_id) ?? []).filter((viewer) => viewer.id !== stream.presence.self)}
                />
              ))}
              {selectedNode !== undefined
                ? (
                  <NodeDetails node={selectedNode} runPaused={runPaused} onClose={() => setSelected(undefined)} />
                  )
                : (
                  <>
                    {/* Rendered on phones only: on a desktop, 5,000 hidden buttons would be drawn at every change. */}
                    {phone && <StepList nodes={state.nodes} positions={positions} runPaused={runPaused} onSelect={setSelected} />}
                    <RunSummary errors={state.errors} nodes={state.nodes} results={state.results} streamError={stream.error?.message} />
                  </>
                  )}
            </aside>
          </div>
          )
        : (
          <RunNotFound dagId={dagId} onShowRuns={onShowRuns} />
          )}
    </>
  )
}

const DECIDED: Record<Decision, string> = { approve: 'approved', reject: 'rejected', modify: 'asked for changes to' }

/** Whether the media query matches, following the window as it changes. */
function useMediaQuery (query: string): boolean {
  const [media] = useState(() => window.matchMedia(query))
  return useSyncExternalStore(
    (onChange) => {
      media.addEventListener('change', onChange)
      return () => media.removeEventListener('change', onChange)
    },
    () => media.matches
  )
}

/** How long the view has been behind the stream, once that is over LAG_LIMIT_MS; undefined while it keeps up. */
const LAG_LIMIT_MS = 1000
const LAG_CHECK_MS = 250

/**
 * Events arrive at once, but are drawn at the throttle's pace and as fast as the page can render: a
 * page too slow for the stream falls behind it. Two measures, checked four times a second, the larger
 * one counting:
 * - from the first event read but not yet drawn to the render that draws it (renders too slow or too
 *   far apart);
 * - how late the check itself comes: the page's thread was busy that long (a render, or anything else,
 *   taking seconds), and drew nothing meanwhile. Events are read on that same thread, so the first
 *   measure cannot see this: an event that waited behind the busy thread is read late, then drawn soon.
 * A hidden tab's timers are slowed down by the browser on purpose: that is no lag of the view.
 */
function useLag (on: ReturnType<typeof useDAGStream>['on'], state: ReturnType<typeof useDAGStream>['state']): number | undefined {
  const waitingSince = useRef<number | undefined>(undefined)
  const [behindMs, setBehindMs] = useState<number | undefined>()
  useEffect(() => on('event', () => {
    waitingSince.current ??= Date.now()
  }), [on])
  // A commit of a new state shows every event received before its render began.
  useLayoutEffect(() => {
    waitingSince.current = undefined
  }, [state])
  useEffect(() => {
    let lastCheck = Date.now()
    let lastBehind: { lagMs: number; at: number } | undefined
    const timer = setInterval(() => {
      const now = Date.now()
      const stalled = document.hidden ? 0 : now - lastCheck - LAG_CHECK_MS
      lastCheck = now
      const since = waitingSince.current
      const lag = Math.max(since === undefined ? 0 : now - since, stalled)
      if (lag > LAG_LIMIT_MS) lastBehind = { lagMs: Math.round(lag / 1000) * 1000, at: now }
      // Behind until it kept up for a whole LAG_LIMIT_MS: a page that stalls again and again is behind
      // between its stalls too, and must not flicker back to "Live" there.
      setBehindMs(lastBehind !== undefined && now - lastBehind.at < LAG_LIMIT_MS ? lastBehind.lagMs : undefined)
    }, LAG_CHECK_MS)
    // Back from a hidden tab: the next check is late because the browser held it back, not the page.
    const onVisibility = () => {
      lastCheck = Date.now()
    }
    document.addEventListener('visibilitychange', onVisibility)
    return () => {
      clearInterval(timer)
      document.removeEventListener('visibilitychange', onVisibility)
    }
  }, [])
  return behindMs
}

/** The server has no such run: say so plainly, and keep watching in case an engine starts it. */
function RunNotFound ({ dagId, onShowRuns }: { dagId: string; onShowRuns: () => void }) {
  return (
    <section className='missing' data-testid='run-not-found' aria-labelledby='run-not-found-title'>
      <h2 className='missing__title' id='run-not-found-title'>This run does not exist (any more)</h2>
      <p className='hint'>
        The server has no run <code>{dagId}</code>. Runs live in the server's memory: a finished run is dropped after half an
        hour, and every run goes when the server restarts. If an engine starts a run with this id, it appears here.
      </p>
      <a
        className='button button--primary'
        href='#'
        data-testid='back-to-runs'
        onClick={(event) => {
          event.preventDefault()
          onShowRuns()
        }}
      >
        ← Back to the run list
      </a>
    </section>
  )
}
