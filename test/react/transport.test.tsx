// The hook says what carries its stream: the client's `transport`, re-rendered when `auto` falls back.

import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import t from 'tap'
import { build } from '../support/helpers.js'
import { RunView } from '../support/react-run-view.js'

const patience = { timeout: 20_000 }

/** Throws (so that waitFor retries) until the element shows `text`. */
function shows (testId: string, text: string): void {
  const shown = screen.getByTestId(testId).textContent
  if (shown !== text) throw new Error(`${testId} shows "${shown}", not "${text}"`)
}

t.test('auto: websocket first; once upgrades keep failing, sse, shown as the stream goes on over it', async (t) => {
  let refusedUpgrades = 0
  // A proxy that breaks WebSockets: every upgrade is answered 502, plain HTTP passes.
  const server = await build(t, {}, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.upgrade === undefined) return
      refusedUpgrades++
      return reply.code(502).send()
    })
  })
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'fetch', status: 'running' })
  const view = render(<RunView dagId='d' options={hookOptions(server, { transport: 'auto' })} />)
  t.teardown(() => view.unmount())
  t.equal(screen.getByTestId('d-transport').textContent, 'websocket', 'auto starts with WebSocket')
  await waitFor(() => shows('d-transport', 'sse'), patience)
  t.ok(refusedUpgrades > 0, 'the upgrades were tried, and refused')
  await waitFor(() => screen.getByText('fetch: running'), patience)
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'fetch', status: 'completed' })
  await waitFor(() => screen.getByText('fetch: completed'), patience)
  t.equal(screen.getByTestId('d-status').textContent, 'open')
  t.equal(screen.getByTestId('d-transport').textContent, 'sse')
})

t.test('sse: the stream is Server-Sent Events from the start', async (t) => {
  const server = await build(t)
  await server.app.dagStream.broadcast('e', { type: 'node_state', node_id: 'fetch', status: 'running' })
  const view = render(<RunView dagId='e' options={hookOptions(server, { transport: 'sse' })} />)
  t.teardown(() => view.unmount())
  t.equal(screen.getByTestId('e-transport').textContent, 'sse')
  await waitFor(() => screen.getByText('fetch: running'), patience)
  t.equal(screen.getByTestId('e-status').textContent, 'open')
  t.equal(server.app.websocketServer.clients.size, 0, 'no WebSocket was opened')
})
