// The demo's gate panel: one panel per open gate (several for one step), only the decisions the gate
// offers as buttons, and a small form for a gate's structured answer (its response_schema). A stalled
// run says so, with nothing to pause or cancel.

import '../support/react-environment.js'
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import t from 'tap'
import { GatePanel } from '../../examples/dashboard/src/GatePanel.js'
import { RunControls } from '../../examples/dashboard/src/RunControls.js'
import type { DecideOptions, Decision, OpenGate } from '../../lib/client/index.js'

interface Call { nodeId: string, decision: Decision, feedback: string | undefined, options: DecideOptions | undefined }

function panels (gates: OpenGate[]) {
  const calls: Call[] = []
  const decide = async (nodeId: string, decision: Decision, feedback?: string, options?: DecideOptions) => {
    calls.push({ nodeId, decision, feedback, options })
  }
  render(<>{gates.map((gate) => <GatePanel key={gate.gate_id} gate={gate} connected decide={decide} viewGate={() => {}} reviewers={[]} />)}</>)
  return calls
}

const buttons = (panel: HTMLElement) => within(panel).queryAllByRole('button').map((button) => button.textContent)

t.afterEach(() => cleanup())

t.test('two gates of one step: two panels, each with the decisions it offers, each deciding its own gate', async (t) => {
  const calls = panels([
    { node_id: 'review', gate_id: 'review~1', presentation: { title: 'Publish?', decisions: ['approve', 'reject'] } },
    { node_id: 'review', gate_id: 'review~2', presentation: { title: 'Tone?' } }
  ])
  const [first, second] = screen.getAllByTestId('gate-panel') as [HTMLElement, HTMLElement]
  t.same(buttons(first), ['Approve', 'Reject'], 'modify is not offered: no button for it')
  t.same(buttons(second), ['Approve', 'Modify', 'Reject'], 'no decisions listed: all three')
  fireEvent.click(within(second).getByTestId('gate-approve'))
  fireEvent.click(within(first).getByTestId('gate-reject'))
  await waitFor(() => t.equal(calls.length, 2))
  t.same(calls, [
    { nodeId: 'review', decision: 'approve', feedback: undefined, options: { gateId: 'review~2' } },
    { nodeId: 'review', decision: 'reject', feedback: undefined, options: { gateId: 'review~1' } }
  ])
})

t.test('a response_schema of simple fields is a form; its value goes with the decision, and a required one must be filled', async (t) => {
  const calls = panels([{
    node_id: 'route',
    gate_id: 'route~1',
    presentation: {
      title: 'Which branch?',
      response_schema: {
        type: 'object',
        properties: { branch: { enum: ['short', 'long'] }, words: { type: 'integer' }, urgent: { type: 'boolean' }, note: { type: 'string' } },
        required: ['branch']
      }
    }
  }])
  const approve = screen.getByTestId('gate-approve') as HTMLButtonElement
  fireEvent.change(screen.getByTestId('gate-value-branch'), { target: { value: 'long' } })
  fireEvent.change(screen.getByTestId('gate-value-words'), { target: { value: '300' } })
  fireEvent.click(screen.getByTestId('gate-value-urgent'))
  t.equal(approve.disabled, false)
  fireEvent.click(approve)
  await waitFor(() => t.equal(calls.length, 1))
  t.same(calls[0]?.options, { gateId: 'route~1', value: { branch: 'long', words: 300, urgent: true } })
})

t.test('a richer response_schema is answered as JSON; decisions wait until it parses', async (t) => {
  const calls = panels([{ node_id: 'n', gate_id: 'n', presentation: { title: 'Edit', response_schema: { type: 'array', items: { type: 'string' } } } }])
  const approve = screen.getByTestId('gate-approve') as HTMLButtonElement
  fireEvent.change(screen.getByTestId('gate-value-json'), { target: { value: '["a",' } })
  t.equal(approve.disabled, true, 'not JSON yet')
  fireEvent.change(screen.getByTestId('gate-value-json'), { target: { value: '["a", "b"]' } })
  fireEvent.click(approve)
  await waitFor(() => t.equal(calls.length, 1))
  t.same(calls[0]?.options, { gateId: 'n', value: ['a', 'b'] })
})

t.test('a stalled run: its status says the engine is lost, and there is nothing to pause or cancel', async (t) => {
  const idle = async () => undefined
  render(<RunControls status='stalled' existence='found' connected pause={idle} resume={idle} cancel={idle} />)
  const status = screen.getByTestId('execution-status')
  t.equal(status.textContent, 'Stalled: engine lost')
  t.match(status.getAttribute('title'), /stopped answering/)
  t.equal((screen.getByTestId('control-pause') as HTMLButtonElement).disabled, true)
  t.equal((screen.getByTestId('control-cancel') as HTMLButtonElement).disabled, true)
})
