import { hookOptions } from '../support/react-environment.js'
import { render, screen, waitFor } from '@testing-library/react'
import t from 'tap'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { streamOpens, TRANSPORTS } from '../support/client-helpers.js'
import { RunView } from '../support/react-run-view.js'

for (const transport of TRANSPORTS) {
  t.test(`${transport}: hooks for the same DAG share one stream, released by the last to unmount`, async (t) => {
    const server = await build(t)
    const streamsOpened = streamOpens(server)
    const options = hookOptions(server, { transport })
    const graph = render(<RunView dagId='d' label='graph' options={options} />)
    const sidebar = render(<RunView dagId='d' label='sidebar' options={options} />)
    const other = render(<RunView dagId='e' options={options} />)
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
    await waitFor(() => {
      if (screen.getAllByText('a: running').length !== 2) throw new Error('not both yet')
    }, { timeout: 20_000 })
    t.equal(server.app.dagStream.connections('d'), 1, 'two hooks, one stream')
    t.equal(server.app.dagStream.connections('e'), 1, 'another DAG has its own')

    graph.unmount()
    // The sidebar still shows the stream after the graph went, on the socket it had: nothing was
    // closed and opened again meanwhile.
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'completed' })
    await waitFor(() => screen.getByText('a: completed'), { timeout: 20_000 })
    t.equal(server.app.dagStream.connections('d'), 1, 'the sidebar still holds it')
    const path = transport === 'websocket' ? 'stream' : 'events'
    t.same(streamsOpened.map((url) => url.split('?')[0]).sort(), [`/api/dags/d/${path}`, `/api/dags/e/${path}`], 'one stream per DAG in all')

    sidebar.unmount()
    other.unmount()
    await until(() => server.app.dagStream.connections() === 0, 'every socket to close')
  })

  t.test(`${transport}: hooks unmounted in one commit close their client once; a later mount gets a new one`, async (t) => {
    const server = await build(t)
    const options = hookOptions(server, { transport })
    const both = render(
      <>
        <RunView dagId='d' label='one' options={options} />
        <RunView dagId='d' label='two' options={options} />
      </>
    )
    await waitFor(() => screen.getByTestId('one-status').textContent === 'open' || Promise.reject(new Error('not open')), {
      timeout: 20_000
    })
    both.unmount()
    await until(() => server.app.dagStream.connections('d') === 0, 'the socket to close')
    const again = render(<RunView dagId='d' options={options} />)
    await waitFor(() => screen.getByText('open'), { timeout: 20_000 })
    t.equal(server.app.dagStream.connections('d'), 1, 'a fresh client connected')
    again.unmount()
  })
}
