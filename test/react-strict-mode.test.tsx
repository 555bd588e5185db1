import { hookOptions } from './react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import { StrictMode } from 'react'
import t from 'tap'
import { build } from './helpers.js'
import { until } from './client-helpers.js'
import { RunView } from './react-run-view.js'

t.test('StrictMode double mounting opens one socket, and unmounting closes it', async (t) => {
  let upgrades = 0
  const server = await build(t, {}, (app) => {
    app.addHook('onRequest', async (request) => {
      if (request.url.includes('/stream')) upgrades++
    })
  })
  const view = render(
    <StrictMode>
      <RunView dagId='d' options={hookOptions(server)} />
    </StrictMode>
  )
  await waitFor(() => screen.getByText('open'), { timeout: 20_000 })
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'queued' })
  await waitFor(() => screen.getByText('a: queued'), { timeout: 20_000 })
  t.equal(upgrades, 1, 'one upgrade request despite the double mount')
  t.equal(server.app.dagStream.connections('d'), 1)
  view.unmount()
  await until(() => server.app.dagStream.connections('d') === 0, 'the socket to close')
})
