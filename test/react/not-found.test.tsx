import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import t from 'tap'
import type { DAGStreamHookResult } from '../../lib/react/index.js'
import type { SequencedEvent } from '../../schemas/index.js'
import { build } from '../support/helpers.js'
import { TRANSPORTS } from '../support/client-helpers.js'
import { RunView } from '../support/react-run-view.js'

const patience = { timeout: 20_000 }

/** Throws (so that waitFor retries) until the element shows `text`. */
function shows (testId: string, text: string): void {
  const shown = screen.getByTestId(testId).textContent
  if (shown !== text) throw new Error(`${testId} shows "${shown}", not "${text}"`)
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: the hook shows a run the server does not have as not found, then as found once it starts`, async (t) => {
    const server = await build(t)
    const view = render(<RunView dagId='later' options={hookOptions(server, { transport })} />)
    t.teardown(() => view.unmount())
    t.equal(screen.getByTestId('later-existence').textContent, 'unknown')
    await waitFor(() => shows('later-existence', 'not_found'), patience)
    t.equal(screen.getByTestId('later-status').textContent, 'open', 'still following it')
    await server.app.dagStream.broadcast('later', { type: 'node_state', node_id: 'a', status: 'running' })
    await waitFor(() => shows('later-existence', 'found'), patience)
    t.ok(screen.getByText('a: running'))
  })

  t.test(`${transport}: \`on\` listens to the client's events, and is the same function at every render`, async (t) => {
    const server = await build(t)
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'review', status: 'waiting_human' })
    const results: DAGStreamHookResult[] = []
    const view = render(<RunView dagId='d' options={hookOptions(server, { transport })} expose={(result) => results.push(result)} />)
    t.teardown(() => view.unmount())
    await waitFor(() => shows('d-seq', '1'), patience)
    const first = results[0] as DAGStreamHookResult
    const received: SequencedEvent[] = []
    const off = first.on('event', (event) => received.push(event))
    await server.app.dagStream.broadcast('d', { type: 'human_gate_resolved', node_id: 'review', decision: 'modify', feedback: 'shorter' })
    await waitFor(() => shows('d-seq', '2'), patience)
    off()
    t.match(received, [{ type: 'human_gate_resolved', decision: 'modify', feedback: 'shorter', seq: 2 }])
    t.ok(results.length > 1, 'rendered more than once')
    t.ok(results.every((result) => result.on === first.on), 'stable, so it can be an effect dependency')
  })
}
