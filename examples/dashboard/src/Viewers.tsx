// How many people watch this run (presence), with their names on hover.
import type { PresenceView } from '../../../lib/react/index.js'

export function Viewers ({ presence }: { presence: PresenceView }) {
  if (presence.count === 0) return null
  const names = presence.viewers.map((viewer) => viewer.id === presence.self ? 'you' : viewer.identity?.name ?? 'anonymous')
  return (
    <span className='viewers' data-testid='viewer-count' title={names.join(', ')} aria-label={`${presence.count} watching: ${names.join(', ')}`}>
      👁 {presence.count} watching
    </span>
  )
}
