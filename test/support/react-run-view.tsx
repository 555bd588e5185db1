// A small dashboard used by the React tests: the status, whether the DAG exists, the position, and every node.

import { useDAGStream, type DAGStreamHookResult, type UseDAGStreamOptions } from '../../lib/react/index.js'

interface RunViewProps {
  dagId: string
  options: UseDAGStreamOptions
  label?: string
  /** Hands the hook's result to the test, e.g. to call its commands. */
  expose?: (result: DAGStreamHookResult) => void
}

export function RunView ({ dagId, options, label = dagId, expose }: RunViewProps) {
  const result = useDAGStream(dagId, options)
  expose?.(result)
  const { state, status, existence, error, transport } = result
  return (
    <section aria-label={label}>
      <p data-testid={`${label}-status`}>{status}</p>
      <p data-testid={`${label}-existence`}>{existence}</p>
      <p data-testid={`${label}-seq`}>{state.seq}</p>
      <p data-testid={`${label}-error`}>{error?.code ?? ''}</p>
      <p data-testid={`${label}-transport`}>{transport}</p>
      <ul>
        {[...state.nodes.values()].map((node) => (
          <li key={node.id}>{`${node.id}: ${node.status}`}</li>
        ))}
      </ul>
    </section>
  )
}
