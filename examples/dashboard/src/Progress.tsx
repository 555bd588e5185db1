// How far the run is: steps that are done (or will not run) out of all the steps the graph has now.
import type { NodeView } from '../../../lib/index.js'
import { isSettled } from './status.js'

/** `nodes`: the store's map itself, counted in one pass (no array of thousands built per render for it). */
export function Progress ({ nodes, runPaused }: { nodes: ReadonlyMap<string, NodeView>; runPaused: boolean }) {
  let done = 0
  let running = 0
  for (const node of nodes.values()) {
    if (isSettled(node.status)) done += 1
    if (node.status === 'running') running += 1
  }
  const total = nodes.size
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
