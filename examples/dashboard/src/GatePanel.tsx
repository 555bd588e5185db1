// A step waiting for a human: what it asks, and approve / modify (with feedback) / reject.
import { useState } from 'react'
import type { Decision, OpenGate } from '../../../lib/index.js'
import { useAction } from './useAction.js'

interface GatePanelProps {
  gate: OpenGate
  connected: boolean
  decide: (nodeId: string, decision: Decision, feedback?: string) => Promise<unknown>
}

export function GatePanel ({ gate, connected, decide }: GatePanelProps) {
  const [feedback, setFeedback] = useState('')
  const { run, pending, error } = useAction()
  const { presentation } = gate
  const disabled = pending || !connected
  const send = (decision: Decision) => void run(() => decide(gate.node_id, decision, feedback.trim() === '' ? undefined : feedback.trim()))
  return (
    <section className="card gate" data-testid="gate-panel" data-node-id={gate.node_id}>
      <header className="card__header">
        <span className="gate__badge">Needs your decision</span>
        <h2 className="card__title">{presentation.title}</h2>
      </header>
      {presentation.description !== undefined && <p className="gate__description">{presentation.description}</p>}
      {presentation.payload !== undefined && <pre className="code" data-testid="gate-payload">{JSON.stringify(presentation.payload, null, 2)}</pre>}
      <label className="gate__feedback">
        <span>Feedback <span className="stat__muted">(required to modify)</span></span>
        <textarea
          data-testid="gate-feedback"
          rows={3}
          value={feedback}
          placeholder="e.g. Shorter intro, cite the 2024 IEA report"
          onChange={(event) => setFeedback(event.target.value)}
        />
      </label>
      <div className="gate__actions">
        <button className="button button--primary" data-testid="gate-approve" disabled={disabled} onClick={() => send('approve')}>Approve</button>
        <button className="button" data-testid="gate-modify" disabled={disabled || feedback.trim() === ''} onClick={() => send('modify')}>Modify</button>
        <button className="button button--danger" data-testid="gate-reject" disabled={disabled} onClick={() => send('reject')}>Reject</button>
      </div>
      {error !== undefined && <p className="gate__error" role="alert" data-testid="gate-error">{error}</p>}
    </section>
  )
}
