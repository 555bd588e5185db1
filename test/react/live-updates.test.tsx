import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import t from 'tap'
import { build } from '../support/helpers.js'
import { cutStreams, TRANSPORTS } from '../support/client-helpers.js'
import { RunView } from '../support/react-run-view.js'

const patience = { timeout: 20_000 }

/** Throws (so that waitFor retries) until the element shows `text`. */
function shows (testId: string, text: string): void {
  const shown = screen.getByTestId(testId).textContent
  if (shown !== text) throw new Error(`${testId} shows "${shown}", not "${text}"`)
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: renders live updates and every status change`, async (t) => {
    const server = await build(t)
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'fetch', status: 'running' })
    const view = render(
      // A fixed 300 ms retry delay, so that "reconnecting" is on screen long enough to be seen.
      <RunView dagId='d' options={hookOptions(server, { transport, backoff: { minDelayMs: 300, random: () => 0.999 } })} />
    )
    t.teardown(() => view.unmount())
    t.equal(screen.getByTestId('d-status').textContent, 'connecting')
    await waitFor(() => screen.getByText('fetch: running'), patience)
    t.equal(screen.getByTestId('d-status').textContent, 'open')

    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'fetch', status: 'completed' })
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'write', status: 'running' })
    await waitFor(() => screen.getByText('write: running'), patience)
    t.ok(screen.getByText('fetch: completed'))

    cutStreams(server)
    await waitFor(() => shows('d-status', 'reconnecting'), patience)
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'write', status: 'completed' })
    await waitFor(() => screen.getByText('write: completed'), patience)
    t.equal(screen.getByTestId('d-status').textContent, 'open', 'resumed and caught up')
  })
}
