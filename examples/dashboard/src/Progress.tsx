// How far the run is: steps that are done (or will not run) out of all the steps the graph has now.
import type { NodeView } from '../../../lib/index.js'
import { isSettled } from './status.js'

export function Progress ({ nodes, runPaused }: { nodes: readonly NodeView[]; runPaused: boolean }) {
  const done = nodes.filter((node) => isSettled(node.status)).length
  const running = nodes.filter((node) => node.status === 'running').length
  const total = nodes.length
  return (
    <div className='stat' data-testid='progress' data-done={done} data-total={total}>
      <div className='stat__label'>Progress</div>
      <div className='stat__value'>
        {done}<span className='stat__muted'> / {total} steps</span>
      </div>
      <div className='bar bar--ok'><div className='bar__fill' style={{ width: `${total === 0 ? 0 : (done / total) * 100}%` }} /></div>
      <div className='stat__hint' data-testid='progress-hint'>
        {/* Paused, a step in flight does no work: it continues where it stopped on resume. */}
        {runPaused && running > 0 ? `${running} on hold until resumed` : `${running} running`}
      </div>
    </div>
  )
}
