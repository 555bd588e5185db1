// The demo's connection badge names what the stream is doing. A first snapshot is a load, not a
// resync: the client goes through the same `resyncing` status for both, and only the DAG's existence
// (unknown until the first state arrives) tells them apart.

import '../support/react-environment.js'
import { cleanup, render, screen } from '@testing-library/react'
import t from 'tap'
import { ConnectionBadge } from '../../examples/dashboard/src/ConnectionBadge.js'
import type { ConnectionStatus, DAGExistence } from '../../lib/react/index.js'

function badge (status: ConnectionStatus, existence: DAGExistence, retryAt?: number) {
  render(<ConnectionBadge status={status} existence={existence} retryAt={retryAt} />)
  const element = screen.getByTestId('connection')
  return { text: element.textContent, state: element.getAttribute('data-state') }
}

t.afterEach(() => cleanup())

t.test('the first snapshot loading: "Loading…"', async (t) => {
  t.same(badge('resyncing', 'unknown'), { text: 'Loading…', state: 'resyncing' })
})

t.test('a snapshot loading again after a gap: "Resyncing…"', async (t) => {
  t.same(badge('resyncing', 'found'), { text: 'Resyncing…', state: 'resyncing' })
})

t.test('live on a run the server has: "Live"', async (t) => {
  t.same(badge('open', 'found'), { text: 'Live', state: 'open' })
})

t.test('live on a run the server does not have: "Waiting for the run"', async (t) => {
  t.same(badge('open', 'not_found'), { text: 'Waiting for the run', state: 'open' })
})

t.test('reconnecting: the countdown to the next attempt', async (t) => {
  t.match(badge('reconnecting', 'found', Date.now() + 2500).text, /^Reconnecting in 2\.\d s$/)
})

t.test('live but the view lags the stream by over a second: "Behind by N s", not "Live"', async (t) => {
  render(<ConnectionBadge status='open' existence='found' retryAt={undefined} behindMs={3000} />)
  const element = screen.getByTestId('connection')
  t.same({ text: element.textContent, state: element.getAttribute('data-state'), behind: element.getAttribute('data-behind') }, { text: 'Behind by 3 s', state: 'open', behind: 'true' })
  t.match(element.className, /badge--behind/)
})

t.test('a run the server does not have is not shown in the live colour', async (t) => {
  render(<ConnectionBadge status='open' existence='not_found' retryAt={undefined} />)
  t.match(screen.getByTestId('connection').className, /badge--missing/)
  t.notMatch(screen.getByTestId('connection').className, /badge--open/)
})
