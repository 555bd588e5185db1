// Pause / resume / cancel, enabled only when the run's status allows them.
import type { ExecutionStatus } from '../../../lib/index.js'
import { EXECUTION_STATUS_LABELS } from './status.js'
import { useAction } from './useAction.js'

interface RunControlsProps {
  status: ExecutionStatus
  /** False when the server has no such run: there is nothing to control. */
  exists: boolean
  /** False while the stream is not live: a command would not reach the engine. */
  connected: boolean
  pause: () => Promise<unknown>
  resume: () => Promise<unknown>
  cancel: () => Promise<unknown>
}

export function RunControls ({ status, exists, connected, pause, resume, cancel }: RunControlsProps) {
  const { run, pending, error } = useAction()
  const live = exists && (status === 'running' || status === 'paused')
  const disabled = pending || !connected
  return (
    <div className='controls'>
      {exists
        ? <span className={`pill pill--${status}`} data-testid='execution-status' data-status={status}>{EXECUTION_STATUS_LABELS[status]}</span>
        : <span className='pill pill--missing' data-testid='execution-status' data-status='not_found'>Not found</span>}
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
