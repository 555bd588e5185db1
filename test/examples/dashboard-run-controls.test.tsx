// The demo's run controls say what the dashboard knows of a run's status, and no more: before the
// run's state has arrived there is no status to show (not "Running", which a finished run would show
// for as long as its snapshot loads), and nothing to pause or cancel.

import '../support/react-environment.js'
import { cleanup, render, screen } from '@testing-library/react'
import t from 'tap'
import { RunControls } from '../../examples/dashboard/src/RunControls.js'
import type { DAGExistence } from '../../lib/react/index.js'

const idle = async () => undefined

function controls (existence: DAGExistence, connected = true) {
  render(<RunControls status='running' existence={existence} connected={connected} pause={idle} resume={idle} cancel={idle} />)
  const status = screen.getByTestId('execution-status')
  return {
    text: status.textContent,
    state: status.getAttribute('data-status'),
    pauseOff: (screen.getByTestId('control-pause') as HTMLButtonElement).disabled,
    cancelOff: (screen.getByTestId('control-cancel') as HTMLButtonElement).disabled
  }
}

t.afterEach(() => cleanup())

t.test('state not loaded yet: "Loading…", controls off', async (t) => {
  t.same(controls('unknown'), { text: 'Loading…', state: 'unknown', pauseOff: true, cancelOff: true })
})

t.test('a run the server does not have: "Not found", controls off', async (t) => {
  t.same(controls('not_found'), { text: 'Not found', state: 'not_found', pauseOff: true, cancelOff: true })
})

t.test('a running run, live: its status, controls on', async (t) => {
  t.same(controls('found'), { text: 'Running', state: 'running', pauseOff: false, cancelOff: false })
})

t.test('a running run while the stream is down: its status, controls off (a command would not arrive)', async (t) => {
  t.same(controls('found', false), { text: 'Running', state: 'running', pauseOff: true, cancelOff: true })
})
