// The stream's health in one glance: loading, live, reconnecting (with a countdown), resyncing, or closed.
import { useEffect, useReducer } from 'react'
import type { ConnectionStatus, DAGExistence } from '../../../lib/client/index.js'

interface ConnectionBadgeProps {
  status: ConnectionStatus
  existence: DAGExistence
  /** When the next reconnect attempt happens (ms since the epoch), while reconnecting. */
  retryAt: number | undefined
  /** How far the view lags behind the stream, when over a second: the page is too slow for it. */
  behindMs?: number
}

const TEXT: Record<ConnectionStatus, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting',
  resyncing: 'Resyncing…',
  closed: 'Disconnected'
}

export function ConnectionBadge ({ status, existence, retryAt, behindMs }: ConnectionBadgeProps) {
  const left = useTimeLeft(status === 'reconnecting' ? retryAt : undefined)
  // Connected but not showing the latest: "Live" would be a lie.
  const behind = status === 'open' && behindMs !== undefined
  const text = behind ? `Behind by ${Math.max(1, Math.round(behindMs / 1000))} s` : textOf(status, existence)
  const look = behind ? 'behind' : status === 'open' && existence === 'not_found' ? 'missing' : status
  return (
    <span className={`badge badge--${look}`} data-testid='connection' data-state={status} data-behind={behind} data-retry-at={retryAt} role='status'>
      <span className='badge__dot' aria-hidden />
      {text}
      {/* Hidden from screen readers: a status region that changes ten times a second is noise. */}
      {left !== undefined && <span aria-hidden data-testid='countdown'>{left > 0 ? ` in ${(left / 1000).toFixed(1)} s` : '…'}</span>}
    </span>
  )
}

function textOf (status: ConnectionStatus, existence: DAGExistence): string {
  // Live, but on a run the server does not have: the stream waits for it to start.
  if (status === 'open' && existence === 'not_found') return 'Waiting for the run'
  // The client loads every snapshot as a resync, but nothing was shown before the first one: it is a
  // load, and "Resyncing" would suggest the view had gone wrong.
  if (status === 'resyncing' && existence === 'unknown') return 'Loading…'
  return TEXT[status]
}

/**
 * Milliseconds left until `deadline`, re-rendering ten times a second while it runs. Read from the
 * clock at every render, so the first frame of a new countdown is as right as the later ones.
 */
function useTimeLeft (deadline: number | undefined): number | undefined {
  const [, tick] = useReducer((count: number) => count + 1, 0)
  useEffect(() => {
    if (deadline === undefined) return
    const timer = setInterval(tick, 100)
    return () => clearInterval(timer)
  }, [deadline])
  // eslint-disable-next-line react-hooks/purity -- the point: the clock is read at every render (see above)
  return deadline === undefined ? undefined : Math.max(0, deadline - Date.now())
}
