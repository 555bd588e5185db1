// Which run's stream the graph's cards read, and how: RunView provides it, each card follows its own
// node through it (useDAGNode), so a status change redraws one card and leaves the graph alone.
import { createContext, useContext } from 'react'
import type { UseDAGStreamOptions } from '../../../lib/react/index.js'

export interface RunStream {
  dagId: string
  /** RunView's own options: the card's hooks share its client, and its interval. */
  options: UseDAGStreamOptions
}

export const RunStreamContext = createContext<RunStream | undefined>(undefined)

export function useRunStream (): RunStream {
  const stream = useContext(RunStreamContext)
  if (stream === undefined) throw new Error('a card of the graph is drawn outside RunStreamContext')
  return stream
}
