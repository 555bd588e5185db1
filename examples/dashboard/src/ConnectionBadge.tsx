// The stream's health in one glance: live, reconnecting (with a countdown), resyncing, or closed.
import { useEffect, useState } from 'react'
import type { ConnectionStatus } from '../../../lib/client/index.js'

interface ConnectionBadgeProps {
  status: ConnectionStatus
  /** When the next reconnect attempt happens (ms since the epoch), while reconnecting. */
  reconnectAt: number | undefined
}

export function ConnectionBadge ({ status, reconnectAt }: ConnectionBadgeProps) {
  const seconds = useCountdown(status === 'reconnecting' ? reconnectAt : undefined)
  const text = {
    connecting: 'Connecting…',
    open: 'Live',
    reconnecting: seconds === undefined || seconds === 0 ? 'Reconnecting…' : `Reconnecting in ${seconds} s`,
    resyncing: 'Resyncing…',
    closed: 'Disconnected'
  }[status]
  return (
    <span className={`badge badge--${status}`} data-testid="connection" data-state={status} role="status">
      <span className="badge__dot" aria-hidden />
      {text}
    </span>
  )
}

/** Whole seconds left until `deadline`, re-rendering every quarter second while it runs. */
function useCountdown (deadline: number | undefined): number | undefined {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (deadline === undefined) return
    const timer = setInterval(() => setNow(Date.now()), 250)
    return () => clearInterval(timer)
  }, [deadline])
  return deadline === undefined ? undefined : Math.max(0, Math.ceil((deadline - now) / 1000))
}
