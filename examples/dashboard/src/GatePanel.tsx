// A step waiting for a human: what it asks, and approve / modify (with feedback) / reject.
import { useEffect, useState } from 'react'
import type { Decision, OpenGate, PresenceViewer } from '../../../lib/index.js'
import { useAction } from './useAction.js'

interface GatePanelProps {
  gate: OpenGate
  connected: boolean
  decide: (nodeId: string, decision: Decision, feedback?: string) => Promise<unknown>
  /** Tells the others this gate is in front of this user while the panel shows (presence). */
  viewGate: (nodeId: string | null) => void
  /** The others who have this gate open now. */
  reviewers: readonly PresenceViewer[]
}

/** The id of a gate's feedback field, for the "Decision needed" shortcut that jumps to it. */
export function feedbackFieldId (nodeId: string): string {
  return `gate-feedback-${nodeId}`
}

export function GatePanel ({ gate, connected, decide, viewGate, reviewers }: GatePanelProps) {
  const [feedback, setFeedback] = useState('')
  useEffect(() => {
    viewGate(gate.node_id)
    return () => viewGate(null)
  }, [gate.node_id, viewGate])
  const { run, pending, error } = useAction()
  const { presentation } = gate
  const disabled = pending || !connected
  const trimmed = feedback.trim()
  const send = (decision: Decision) => void run(() => decide(gate.node_id, decision, trimmed === '' ? undefined : trimmed))
  const titleId = `gate-title-${gate.node_id}`
  const hintId = `gate-hint-${gate.node_id}`
  return (
    <section className='card gate' data-testid='gate-panel' data-node-id={gate.node_id} aria-labelledby={titleId}>
      <header className='card__header'>
        <span className='gate__badge'>Needs your decision</span>
        <h2 className='card__title' id={titleId}>{presentation.title}</h2>
      </header>
      {reviewers.length > 0 && (
        <p className='gate__reviewers' data-testid='gate-reviewers'>
          Also reviewing: {reviewers.map((viewer) => viewer.identity?.name ?? 'someone').join(', ')}
        </p>
      )}
      {presentation.description !== undefined && <p className='gate__description'>{presentation.description}</p>}
      {presentation.payload !== undefined && (
        <pre className='code' tabIndex={0} aria-label='What to review' data-testid='gate-payload'>{JSON.stringify(presentation.payload, null, 2)}</pre>
      )}
      <label className='gate__feedback' htmlFor={feedbackFieldId(gate.node_id)}>
        <span>Feedback <span className='stat__muted' id={hintId}>(required to modify)</span></span>
      </label>
      <textarea
        id={feedbackFieldId(gate.node_id)}
        className='gate__textarea'
        data-testid='gate-feedback'
        rows={3}
        value={feedback}
        aria-describedby={hintId}
        placeholder='e.g. Shorter intro, cite the 2024 IEA report'
        onChange={(event) => setFeedback(event.target.value)}
      />
      <div className='gate__actions'>
        <button className='button button--primary' data-testid='gate-approve' disabled={disabled} onClick={() => send('approve')}>Approve</button>
        <button className='button' data-testid='gate-modify' disabled={disabled || trimmed === ''} onClick={() => send('modify')}>Modify</button>
        <button className='button button--danger' data-testid='gate-reject' disabled={disabled} onClick={() => send('reject')}>Reject</button>
      </div>
      {error !== undefined && <p className='gate__error' role='alert' data-testid='gate-error'>{error}</p>}
    </section>
  )
}
