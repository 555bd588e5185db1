// Pause / resume / cancel, enabled only when the run's status allows them.
import type { ExecutionStatus } from '../../../lib/index.js'
import type { DAGExistence } from '../../../lib/react/index.js'
import { EXECUTION_STATUS_LABELS } from './status.js'
import { useAction } from './useAction.js'

interface RunControlsProps {
  status: ExecutionStatus
  /** Whether the server has the run: 'unknown' until its state has arrived, when `status` means nothing yet. */
  existence: DAGExistence
  /** False while the stream is not live: a command would not reach the engine. */
  connected: boolean
  pause: () => Promise<unknown>
  resume: () => Promise<unknown>
  cancel: () => Promise<unknown>
  /** Open gates: a running run that waits for a human says so, not "Running". */
  waitingGates?: number
}

export function RunControls ({ status, existence, connected, pause, resume, cancel, waitingGates = 0 }: RunControlsProps) {
  const { run, pending, error } = useAction()
  const exists = existence === 'found'
  const live = exists && (status === 'running' || status === 'paused')
  const disabled = pending || !connected
  // Before the state has arrived, not "Running": a state not yet loaded is no state, and the run may long be over.
  const waiting = exists && status === 'running' && waitingGates > 0
  const pill = waiting
    ? { state: 'waiting_human', text: 'Needs decision', look: 'waiting' }
    : exists
      ? { state: status, text: EXECUTION_STATUS_LABELS[status], look: status }
      : { state: existence, text: existence === 'unknown' ? 'Loading…' : 'Not found', look: 'missing' }
  return (
    <div className='controls'>
      <span
        className={`pill pill--${pill.look}`}
        data-testid='execution-status'
        data-status={pill.state}
        title={exists && status === 'stalled' ? 'The server driving this run stopped answering: commands wait until an engine picks the run up again.' : undefined}
      >
        {pill.text}
      </span>
      {status === 'paused' && exists
        ? (
          <button className='button' data-testid='control-resume' disabled={disabled} onClick={() => void run(resume)}>▶ Resume</button>
          )
        : (
          <button className='button' data-testid='control-pause' disabled={disabled || !live || status !== 'running'} onClick={() => void run(pause)}>❚❚ Pause</button>
          )}
      <button
        className='button button--danger'
        data-testid='control-cancel'
        disabled={disabled || !live}
        onClick={() => {
          if (window.confirm('Cancel this run? Steps in progress are abandoned.')) void run(cancel)
        }}
      >
        ✕ Cancel
      </button>
      {error !== undefined && <span className='controls__error' role='alert'>{error}</span>}
    </div>
  )
}
