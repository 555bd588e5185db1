// One open gate of a step: what it asks, the decisions it offers (approve / modify with feedback /
// reject, or fewer), and a small form for the structured answer when the gate has a response_schema.
// A step may have several gates open at once: one panel each, keyed by gate id.
import { useEffect, useState } from 'react'
import type { DecideOptions, Decision, OpenGate, PresenceViewer } from '../../../lib/client/index.js'
import { useAction } from './useAction.js'

const ALL_DECISIONS: readonly Decision[] = ['approve', 'modify', 'reject']
const DECISION_LOOK: Record<Decision, { label: string; className: string }> = {
  approve: { label: 'Approve', className: 'button button--primary' },
  modify: { label: 'Modify', className: 'button' },
  reject: { label: 'Reject', className: 'button button--danger' }
}

interface GatePanelProps {
  gate: OpenGate
  connected: boolean
  decide: (nodeId: string, decision: Decision, feedback?: string, options?: DecideOptions) => Promise<unknown>
  /** Tells the others this gate is in front of this user while the panel shows (presence). */
  viewGate: (nodeId: string | null) => void
  /** The others who have this gate open now. */
  reviewers: readonly PresenceViewer[]
}

/** The id of a gate's feedback field, for the "Decision needed" shortcut that jumps to it. */
export function feedbackFieldId (gateId: string): string {
  return `gate-feedback-${gateId}`
}

/** A field of a flat object schema that the form can render: a string (or choice), a number, a yes/no. */
interface FormField {
  name: string
  kind: 'text' | 'number' | 'boolean' | 'choice'
  choices?: readonly string[]
  required: boolean
}

/**
 * The fields of a response_schema the form knows how to ask for: an object of strings, numbers,
 * booleans and string enums. Anything richer is answered as JSON.
 */
function formFields (schema: Record<string, unknown>): FormField[] | undefined {
  const properties = schema.properties as Record<string, Record<string, unknown>> | undefined
  if (schema.type !== 'object' || properties === undefined) return undefined
  const required = new Set(Array.isArray(schema.required) ? schema.required as string[] : [])
  const fields: FormField[] = []
  for (const [name, property] of Object.entries(properties)) {
    const field: FormField = { name, kind: 'text', required: required.has(name) }
    if (Array.isArray(property.enum) && property.enum.every((choice) => typeof choice === 'string')) {
      field.kind = 'choice'
      field.choices = property.enum as string[]
    } else if (property.type === 'number' || property.type === 'integer') field.kind = 'number'
    else if (property.type === 'boolean') field.kind = 'boolean'
    else if (property.type !== 'string') return undefined
    fields.push(field)
  }
  return fields
}

/** The value the form's inputs say, or undefined when a JSON answer does not parse. */
function formValue (fields: FormField[] | undefined, inputs: Record<string, string>, json: string): unknown {
  if (fields === undefined) {
    try {
      return JSON.parse(json)
    } catch {
      return undefined
    }
  }
  const value: Record<string, unknown> = {}
  for (const field of fields) {
    const input = inputs[field.name] ?? ''
    if (field.kind === 'boolean') value[field.name] = input === 'true'
    else if (input === '') continue
    else value[field.name] = field.kind === 'number' ? Number(input) : input
  }
  return value
}

export function GatePanel ({ gate, connected, decide, viewGate, reviewers }: GatePanelProps) {
  const [feedback, setFeedback] = useState('')
  const [inputs, setInputs] = useState<Record<string, string>>({})
  const [json, setJson] = useState('')
  useEffect(() => {
    viewGate(gate.node_id)
    return () => viewGate(null)
  }, [gate.node_id, viewGate])
  const { run, pending, error } = useAction()
  const { presentation } = gate
  const schema = presentation.response_schema
  const fields = schema === undefined ? undefined : formFields(schema)
  const value = schema === undefined ? undefined : formValue(fields, inputs, json)
  const disabled = pending || !connected || (schema !== undefined && value === undefined)
  const trimmed = feedback.trim()
  const send = (decision: Decision) => {
    const options: DecideOptions = { gateId: gate.gate_id }
    if (value !== undefined) options.value = value
    void run(() => decide(gate.node_id, decision, trimmed === '' ? undefined : trimmed, options))
  }
  const offered = presentation.decisions ?? ALL_DECISIONS
  const titleId = `gate-title-${gate.gate_id}`
  const hintId = `gate-hint-${gate.gate_id}`
  return (
    <section className='card gate' data-testid='gate-panel' data-node-id={gate.node_id} data-gate-id={gate.gate_id} aria-labelledby={titleId}>
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
      {fields?.map((field) => {
        const id = `gate-value-${gate.gate_id}-${field.name}`
        const set = (input: string) => setInputs((previous) => ({ ...previous, [field.name]: input }))
        return (
          <label className='gate__feedback' htmlFor={id} key={field.name}>
            <span>{field.name}{field.required ? '' : <span className='stat__muted'> (optional)</span>}</span>
            {field.kind === 'choice'
              ? (
                <select id={id} data-testid={`gate-value-${field.name}`} value={inputs[field.name] ?? ''} onChange={(event) => set(event.target.value)}>
                  <option value=''>—</option>
                  {field.choices?.map((choice) => <option key={choice} value={choice}>{choice}</option>)}
                </select>
                )
              : field.kind === 'boolean'
                ? <input id={id} type='checkbox' data-testid={`gate-value-${field.name}`} checked={inputs[field.name] === 'true'} onChange={(event) => set(String(event.target.checked))} />
                : <input id={id} type={field.kind === 'number' ? 'number' : 'text'} data-testid={`gate-value-${field.name}`} value={inputs[field.name] ?? ''} onChange={(event) => set(event.target.value)} />}
          </label>
        )
      })}
      {schema !== undefined && fields === undefined && (
        <label className='gate__feedback' htmlFor={`gate-value-${gate.gate_id}`}>
          <span>Answer (JSON)</span>
          <textarea id={`gate-value-${gate.gate_id}`} className='gate__textarea' data-testid='gate-value-json' rows={3} value={json} onChange={(event) => setJson(event.target.value)} />
        </label>
      )}
      <label className='gate__feedback' htmlFor={feedbackFieldId(gate.gate_id)}>
        <span>Feedback <span className='stat__muted' id={hintId}>(required to modify)</span></span>
      </label>
      <textarea
        id={feedbackFieldId(gate.gate_id)}
        className='gate__textarea'
        data-testid='gate-feedback'
        rows={3}
        value={feedback}
        aria-describedby={hintId}
        placeholder='e.g. Shorter intro, cite the 2024 IEA report'
        onChange={(event) => setFeedback(event.target.value)}
      />
      <div className='gate__actions'>
        {ALL_DECISIONS.filter((decision) => offered.includes(decision)).map((decision) => (
          <button
            key={decision}
            className={DECISION_LOOK[decision].className}
            data-testid={`gate-${decision}`}
            disabled={disabled || (decision === 'modify' && trimmed === '')}
            onClick={() => send(decision)}
          >
            {DECISION_LOOK[decision].label}
          </button>
        ))}
      </div>
      {error !== undefined && <p className='gate__error' role='alert' data-testid='gate-error'>{error}</p>}
    </section>
  )
}
