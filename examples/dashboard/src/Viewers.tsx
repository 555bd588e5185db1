// How many people watch this run (presence), with their names on hover.
import type { PresenceView } from '../../../lib/react/index.js'

export function Viewers ({ presence }: { presence: PresenceView }) {
  if (presence.count === 0) return null
  const names = presence.viewers.map((viewer) => viewer.id === presence.self ? 'you' : viewer.identity?.name ?? 'anonymous')
  // The server lists at most 50 viewers; the count is exact.
  const unlisted = presence.count - names.length
  if (unlisted > 0) names.push(`${unlisted} more`)
  return (
    <span className='viewers' data-testid='viewer-count' title={names.join(', ')} aria-label={`${presence.count} watching: ${names.join(', ')}`}>
      <EyeIcon /> {presence.count} watching
    </span>
  )
}

/** Drawn, not an emoji: a browser without an emoji font (Debian's chromium) shows a box instead. */
function EyeIcon () {
  return (
    <svg className='viewers__icon' width='14' height='14' viewBox='0 0 24 24' aria-hidden='true' fill='none' stroke='currentColor' strokeWidth='2'>
      <path d='M1 12s4-7 11-7 11 7 11 7-4 7-11 7S1 12 1 12z' />
      <circle cx='12' cy='12' r='3' />
    </svg>
  )
}
